//! Connection start: authentication (trust, for now), the database check, and
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

use crate::error::ErrorKind;
use crate::pgwire::cursor::Cursors;
use crate::pgwire::settings::Settings;
use crate::pgwire::{DATE_STYLE, error};
use crate::query::{QueryEngine, QueryError};

/// Trust authentication: any user, no password. The database must exist,
/// because every later handler needs the session made here.
#[derive(Debug)]
pub(super) struct TrustStartup {
    pub(super) engine: Arc<QueryEngine>,
    pub(super) connections: Arc<ConnectionManager>,
    pub(super) pids: RandomPidSecretKeyGenerator,
}

#[async_trait]
impl StartupHandler for TrustStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Trust mode asks for no password, so nothing but Startup arrives here.
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
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
        client.session_extensions().insert(session);
        let settings = Settings::new(client.metadata());
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
