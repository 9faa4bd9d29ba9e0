//! Connection start: authentication (trust, cleartext, MD5, SCRAM-SHA-256), the database check, and
//! the ParameterStatus set clients read before their first query.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use ::pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use ::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_DATABASE,
    METADATA_USER, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use ::pgwire::error::{PgWireError, PgWireResult};
use ::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use async_trait::async_trait;
use futures::Sink;

use ::pgwire::api::PgWireConnectionState;
use ::pgwire::api::auth::Password;
use ::pgwire::api::auth::sasl::scram::{ScramServerAuth, ScramServerAuthWaitingForClientFinal};
use ::pgwire::messages::startup::Authentication;
use futures::SinkExt;
use sediment_catalog::{Catalog, User};
use std::sync::Mutex;

use crate::error::ErrorKind;
use crate::pgwire::auth::{AuthMethod, check_cleartext, check_md5};
use crate::pgwire::cursor::Cursors;
use crate::pgwire::settings::{Settings, current_setting_udf};
use crate::pgwire::{DATE_STYLE, error};
use crate::query::{QueryEngine, QueryError};

/// Connection start. With no users in the catalog every login is trusted (the
/// server refuses non-loopback binds in that case unless told otherwise);
/// with users, the configured method challenges the client. The database must
/// exist, because every later handler needs the session made here.
///
/// One handler serves every connection, so the state of a login in progress
/// lives in the connection's session extensions, never in the handler.
#[derive(Debug)]
pub(super) struct Startup {
    pub(super) engine: Arc<QueryEngine>,
    pub(super) catalog: Arc<Catalog>,
    pub(super) method: AuthMethod,
    pub(super) connections: Arc<ConnectionManager>,
    pub(super) pids: RandomPidSecretKeyGenerator,
}

/// Where a login stands between the challenge and the client's answer.
enum Login {
    Cleartext,
    Md5 { salt: [u8; 4] },
    ScramFirst,
    ScramFinal(Box<ScramServerAuthWaitingForClientFinal>),
    Done,
}

/// The login of one connection, with the user it claims to be (`None`: no such user,
/// which fails only once the client has answered, as Postgres does).
struct PendingLogin {
    user: Option<User>,
    stage: Mutex<Login>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                // One cheap read when no users are known, so the first `sediment user
                // create` takes effect on a running server at once.
                let no_users = self.catalog.snapshot().users.is_empty()
                    && self.catalog.refresh().await.map_or(true, |c| c.users.is_empty());
                if no_users {
                    return self.start_session(client).await;
                }
                let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let user = match self.catalog.snapshot().users.get(&name) {
                    Some(user) => Some(user.clone()),
                    // Created by `sediment user create` after this server loaded the catalog?
                    None => self.catalog.refresh().await.ok().and_then(|c| c.users.get(&name).cloned()),
                };
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let (stage, challenge) = match self.method {
                    AuthMethod::Password => (Login::Cleartext, Authentication::CleartextPassword),
                    AuthMethod::Md5 => {
                        let salt: [u8; 4] = uuid::Uuid::new_v4().into_bytes()[..4].try_into().unwrap_or_default();
                        (Login::Md5 { salt }, Authentication::MD5Password(salt.to_vec()))
                    }
                    AuthMethod::ScramSha256 => {
                        (Login::ScramFirst, Authentication::SASL(vec!["SCRAM-SHA-256".to_owned()]))
                    }
                };
                client.session_extensions().insert(PendingLogin { user, stage: Mutex::new(stage) });
                client.send(PgWireBackendMessage::Authentication(challenge)).await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(answer) => {
                let pending = client.session_extensions().get::<PendingLogin>().ok_or_else(|| {
                    error::fatal(error::kind_error(ErrorKind::Protocol, "unexpected password message"))
                })?;
                let stage =
                    std::mem::replace(&mut *pending.stage.lock().unwrap_or_else(|e| e.into_inner()), Login::Done);
                let user = pending.user.as_ref();
                let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let accepted = match stage {
                    Login::Cleartext => {
                        let password = answer.into_password()?.password;
                        user.is_some_and(|u| check_cleartext(u, &password))
                    }
                    Login::Md5 { salt } => {
                        let response = answer.into_password()?.password;
                        user.is_some_and(|u| check_md5(u, &salt, &response))
                    }
                    Login::ScramFirst => {
                        let first = answer.into_sasl_initial_response()?;
                        let data = first.data.unwrap_or_default();
                        // An unknown user still gets a well-formed challenge, with a
                        // salt no password matches, so replies do not reveal who exists.
                        let expected = match user {
                            Some(u) => Password::new(Some(u.salt.clone()), u.salted_password.clone()),
                            None => Password::new(Some(uuid::Uuid::new_v4().into_bytes().to_vec()), Vec::new()),
                        };
                        let (server_first, waiting) = ScramServerAuth::new()
                            .on_client_first_message(&data, expected)
                            .map_err(|_| auth_failed(&name))?;
                        *pending.stage.lock().unwrap_or_else(|e| e.into_inner()) = Login::ScramFinal(Box::new(waiting));
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(
                                server_first.into(),
                            )))
                            .await?;
                        return Ok(());
                    }
                    Login::ScramFinal(waiting) => {
                        let response = answer.into_sasl_response()?;
                        match waiting.on_client_final_message(&response.data) {
                            Ok(server_final) if user.is_some() => {
                                client
                                    .feed(PgWireBackendMessage::Authentication(Authentication::SASLFinal(
                                        server_final.into(),
                                    )))
                                    .await?;
                                true
                            }
                            _ => false,
                        }
                    }
                    Login::Done => false,
                };
                if !accepted {
                    tracing::info!(user = %name, "pg authentication failed");
                    return Err(auth_failed(&name));
                }
                self.start_session(client).await
            }
            _ => Ok(()),
        }
    }
}

fn auth_failed(user: &str) -> PgWireError {
    error::fatal(error::kind_error(
        ErrorKind::Unauthenticated,
        format!("password authentication failed for user \"{user}\""),
    ))
}

impl Startup {
    /// Binds the connection to its database and tells the client it may query.
    async fn start_session<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).cloned().unwrap_or_default();
        // Postgres' default: the database named like the user.
        let db = metadata.get(METADATA_DATABASE).cloned().unwrap_or_else(|| user.clone());
        let session = match self.engine.postgres_session(&db) {
            Ok(session) => session,
            Err(QueryError::DatabaseNotFound(_)) => {
                return Err(error::fatal(error::kind_error(
                    ErrorKind::DatabaseNotFound,
                    format!("database \"{db}\" does not exist"),
                )));
            }
            Err(e) => return Err(error::fatal(error::to_pg_error(&e))),
        };
        client.metadata_mut().insert(METADATA_DATABASE.to_owned(), db.clone());
        let settings = Arc::new(Settings::new(client.metadata()));
        session.register_udf(current_setting_udf(Arc::clone(&settings)));
        client.session_extensions().insert(session);
        client.session_extensions().insert(settings);
        client.session_extensions().insert(Cursors::default());

        let (pid, key) = self.pids.generate(&*client);
        client.set_pid_and_secret_key(pid, key.clone());
        let (handle, guard) = self.connections.register(pid, key);
        // pgwire's query loop looks the handle up by this exact type to race queries
        // against CancelRequest; the guard unregisters when the connection drops.
        client.session_extensions().insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);

        finish_authentication(client, &SessionParameters).await?;
        tracing::debug!(%db, %user, pid, "pg session started");
        Ok(())
    }
}

/// The ParameterStatus set sent after authentication. Drivers check these:
/// JDBC refuses anything but `UTF8` and `integer_datetimes=on`, and several
/// clients parse `server_version` to pick their catalog queries.
#[derive(Debug)]
struct SessionParameters;

impl ServerParameterProvider for SessionParameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let application_name = client.metadata().get(METADATA_APPLICATION_NAME).cloned().unwrap_or_default();
        let params = [
            ("server_version", "15.0".to_owned()),
            ("server_encoding", "UTF8".to_owned()),
            ("client_encoding", "UTF8".to_owned()),
            ("DateStyle", DATE_STYLE.to_owned()),
            ("IntervalStyle", "postgres".to_owned()),
            ("TimeZone", "UTC".to_owned()),
            ("integer_datetimes", "on".to_owned()),
            ("standard_conforming_strings", "on".to_owned()),
            ("application_name", application_name),
        ];
        Some(params.into_iter().map(|(name, value)| (name.to_owned(), value)).collect())
    }
}
