//! The Postgres wire-protocol frontend: accepts connections, authenticates
//! (trust, for now), binds each connection to a `QuerySession` on its startup
//! database, and answers simple and extended queries by streaming record
//! batches as DataRows. SQLSTATEs come only from `pgwire/error.rs`.
//!
//! ```text
//! accept ──spawn──▶ process_socket (pgwire, one task per connection)
//!   Startup ──▶ TrustStartup: db = `database` or user ──engine.session(db)──▶ QuerySession
//!               stored in session_extensions; ParameterStatus; pid/key → ConnectionManager
//!   Query   ──▶ plan_sql ──▶ per plan: execute ──▶ RecordBatch stream ──arrow-pg──▶ DataRows
//!   Parse   ──▶ PlanParser: plan_sql (one statement) ──▶ PreparedPlan {sql, plan, param types}
//!   Describe──▶ parameter types + plan schema (pgwire's default describe, via PlanParser)
//!   Execute ──▶ plan sql again ──▶ decode Bind params (arrow-pg) ──▶ replace placeholders
//!               ──▶ execute ──▶ DataRows in the portal's text/binary formats
//!   CancelRequest ──▶ ConnectionManager ──▶ the running row stream ends with 57014
//! ```
//!
//! Rows are never collected: each batch is encoded when pgwire pulls it, and a
//! batch error ends the statement with an ErrorResponse carrying the classified
//! SQLSTATE, leaving the connection usable.

pub mod auth;
mod copy;
mod cursor;
pub mod error;
mod extended;
mod idle;
mod origins;
mod settings;
mod startup;
pub mod tls;

use crate::pgwire::extended::PlanParser;
use sediment_catalog::Catalog;

use crate::pgwire::auth::AuthMethod;
use crate::pgwire::startup::Startup;

use std::fmt::{self, Debug};
use std::iter;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

// `::pgwire` is the crate; this module is `crate::pgwire`.
use ::pgwire::api::auth::StartupHandler;
use ::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use ::pgwire::api::portal::Format;
use ::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use ::pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Response, Tag};
use ::pgwire::api::store::PortalStore;
use ::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, ConnectionManager, PgWireServerHandlers,
    RandomPidSecretKeyGenerator,
};
use ::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use ::pgwire::messages::data::DataRow;
use ::pgwire::messages::startup::ParameterStatus;
use ::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use ::pgwire::types::format::FormatOptions;
use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use arrow_pg::encode_recordbatch;
use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::ErrorKind;
use crate::pgwire::cursor::{CursorError, Cursors};
use crate::pgwire::settings::{Language, Settings};
use crate::query::engine::{Planned, SessionCommand};
use crate::query::{QueryEngine, QuerySession};

/// How long to wait after a failed `accept` (usually EMFILE) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Postgres' own limit; it also bounds the vector built from `$n` ids.
const MAX_PARAMETERS: usize = 65_535;
const DATE_STYLE: &str = "ISO, MDY";

/// How the Postgres frontend treats its connections.
#[derive(Clone)]
pub struct PgOptions {
    pub method: AuthMethod,
    pub tls: Option<::pgwire::tokio::TlsAcceptor>,
    /// Close connections idle between statements for this long.
    pub idle_timeout: Option<Duration>,
}

impl Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("method", &self.method)
            .field("tls", &self.tls.is_some())
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Serves Postgres clients on `listener` until `shutdown` is cancelled.
/// Connections still open at shutdown are dropped: they only read, so there is
/// nothing of theirs to finish.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<QueryEngine>,
    catalog: Arc<Catalog>,
    options: PgOptions,
    shutdown: CancellationToken,
) {
    let PgOptions { method, tls, idle_timeout } = options;
    let connections = Arc::new(ConnectionManager::new());
    let startup = Arc::new(Startup {
        engine,
        catalog,
        method,
        connections: Arc::clone(&connections),
        pids: RandomPidSecretKeyGenerator::default(),
    });
    let queries = Arc::new(Queries::default());
    let cancel = Arc::new(DefaultCancelHandler::new(connections));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "pg accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // A duplicate of the socket, to say goodbye on when the idle timeout closes it.
        let (socket, farewell) = match split_for_farewell(socket) {
            Ok(split) => split,
            Err(e) => {
                tracing::warn!(error = %e, "pg connection dropped: cannot set up its socket");
                continue;
            }
        };
        let activity = Arc::new(idle::Activity::new());
        let handlers = Arc::new(Handlers {
            startup: Arc::new(ConnectionStartup { shared: Arc::clone(&startup), activity: Arc::clone(&activity) }),
            queries: Arc::clone(&queries),
            cancel: Arc::clone(&cancel),
        });
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        let span = tracing::info_span!("pg_connection", peer = %peer);
        tokio::spawn(
            async move {
                let idle = async {
                    match idle_timeout {
                        Some(timeout) => idle::expired(&activity, timeout).await,
                        None => futures::future::pending().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => tracing::debug!("pg connection closed by shutdown"),
                    served = ::pgwire::tokio::process_socket(socket, tls, handlers) => {
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "pg connection ended with an I/O error");
                        }
                    }
                    () = idle => {
                        tracing::debug!("pg connection closed: idle timeout");
                        idle::close(&farewell, &activity);
                    }
                }
            }
            .instrument(span),
        );
    }
    tracing::info!("pg listener stopped");
}

fn split_for_farewell(socket: tokio::net::TcpStream) -> std::io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
    let socket = socket.into_std()?;
    let farewell = socket.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(socket)?, farewell))
}

/// The shared startup handler, plus what belongs to this one connection.
#[derive(Debug)]
struct ConnectionStartup {
    shared: Arc<Startup>,
    activity: Arc<idle::Activity>,
}

#[async_trait]
impl StartupHandler for ConnectionStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if client.session_extensions().get::<Arc<idle::Activity>>().is_none() {
            self.activity.set_secure(client.is_secure());
            client.session_extensions().insert(Arc::clone(&self.activity));
        }
        self.shared.on_startup(client, message).await
    }
}

#[derive(Debug)]
struct Handlers {
    startup: Arc<ConnectionStartup>,
    queries: Arc<Queries>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    // Without this pgwire's default answers Parse with FATAL, and most drivers use Parse.
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

fn session_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<QuerySession>> {
    client
        .session_extensions()
        .get::<QuerySession>()
        .ok_or_else(|| error::kind_error(ErrorKind::Protocol, "no database session: startup did not complete"))
}

fn settings_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Settings>> {
    client
        .session_extensions()
        // Stored as an `Arc` because `current_setting()` shares it.
        .get::<Arc<Settings>>()
        .map(|settings| Arc::clone(&*settings))
        .ok_or_else(|| error::kind_error(ErrorKind::Protocol, "no session settings: startup did not complete"))
}

/// The connection's cache of table OIDs for RowDescription.
fn origins_of<C: ClientInfo>(client: &C) -> Arc<origins::ColumnOrigins> {
    client.session_extensions().get_or_insert_with(origins::ColumnOrigins::default)
}

fn format_options<C: ClientInfo>(client: &C) -> Arc<FormatOptions> {
    let mut options = FormatOptions::from_client_metadata(client.metadata());
    // Encode dates the way the DateStyle we announced says, unless the client chose one.
    if !client.metadata().contains_key("datestyle") {
        DATE_STYLE.clone_into(&mut options.date_style);
    }
    Arc::new(options)
}

/// What may end a running statement early: a CancelRequest, or `statement_timeout`.
#[derive(Debug, Clone, Default)]
struct Interrupts {
    cancel: Option<Arc<ConnectionHandle>>,
    timeout: Option<Duration>,
    /// Marks the connection busy while rows are still to be sent.
    activity: Option<Arc<idle::Activity>>,
}

fn cancel_handle<C: ClientInfo>(client: &C) -> Interrupts {
    let cancel = client.session_extensions().get::<Arc<ConnectionHandle>>().map(|handle| Arc::clone(&*handle));
    let timeout =
        settings_of(client).ok().and_then(|s| s.get("statement_timeout")).and_then(|t| settings::parse_duration(&t));
    Interrupts { cancel, timeout, activity: activity_of(client) }
}

fn activity_of<C: ClientInfo>(client: &C) -> Option<Arc<idle::Activity>> {
    client.session_extensions().get::<Arc<idle::Activity>>().map(|a| Arc::clone(&*a))
}

/// Marks the connection busy until the returned guard is dropped.
fn busy<C: ClientInfo>(client: &C) -> Option<idle::Busy> {
    activity_of(client).map(|a| a.begin())
}

/// Starts `plan` and wraps its batches as a `Response::Query` whose rows are
/// encoded lazily, as pgwire sends them.
async fn query_response<C: ClientInfo>(
    client: &C,
    session: &QuerySession,
    plan: LogicalPlan,
    format: &Format,
    cancel: Interrupts,
) -> PgWireResult<QueryResponse> {
    let options = format_options(client);
    // The logical schema, as Describe reported it, so RowDescription and DataRows agree.
    let fields = arrow_schema_to_pg_fields(plan.schema().as_arrow(), format, Some(options))?;
    let origins = origins_of(client).of(session, &plan).await;
    let fields = Arc::new(origins::apply(fields, &origins));
    let batches = session.execute(plan).await.map_err(|e| error::to_pg_error(&e))?;
    Ok(QueryResponse::new(Arc::clone(&fields), row_stream(batches, fields, cancel)))
}

fn row_stream(batches: SendableRecordBatchStream, fields: Arc<Vec<FieldInfo>>, cancel: Interrupts) -> Cancellable {
    let rows = batches.flat_map(move |batch| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send> = match batch {
            Ok(batch) => encode_recordbatch(Arc::clone(&fields), batch),
            // pgwire stops at the first Err, sends it as ErrorResponse and drops the
            // stream, which cancels the rest of the plan.
            Err(e) => Box::new(iter::once(Err(error::datafusion_error(e)))),
        };
        stream::iter(rows)
    });
    Cancellable::new(rows.boxed(), cancel)
}

/// A row stream that ends with 57014 when the client sends a CancelRequest.
///
/// pgwire races only `do_query` against cancellation, but DataFusion does its
/// work while the stream is polled, after `do_query` has returned. So the
/// stream installs its own receiver on first poll (replacing the one pgwire's
/// finished race left behind) and checks it before every row.
struct Cancellable {
    rows: BoxStream<'static, PgWireResult<DataRow>>,
    /// Resolves with the reason when the statement must end.
    cancelled: Option<BoxFuture<'static, &'static str>>,
    done: bool,
    _busy: Option<idle::Busy>,
}

impl Cancellable {
    fn new(rows: BoxStream<'static, PgWireResult<DataRow>>, interrupts: Interrupts) -> Self {
        let Interrupts { cancel, timeout, activity } = interrupts;
        let busy = activity.map(|a| a.begin());
        let cancelled = (cancel.is_some() || timeout.is_some()).then(|| {
            async move {
                let cancelled = async move {
                    match cancel {
                        Some(handle) => {
                            let receiver = handle.start_query().await;
                            // A dropped sender means a later statement took the connection's
                            // cancel slot (a suspended portal is resumed later); not a cancel.
                            if receiver.await.is_err() {
                                futures::future::pending::<()>().await;
                            }
                        }
                        None => futures::future::pending::<()>().await,
                    }
                };
                let timed_out = async move {
                    match timeout {
                        Some(t) => tokio::time::sleep(t).await,
                        None => futures::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = cancelled => "canceling statement due to user request",
                    () = timed_out => "canceling statement due to statement timeout",
                }
            }
            .boxed()
        });
        Self { rows, cancelled, done: false, _busy: busy }
    }
}

impl Debug for Cancellable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellable").field("done", &self.done).finish_non_exhaustive()
    }
}

impl Stream for Cancellable {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(cancelled) = this.cancelled.as_mut()
            && let Poll::Ready(reason) = cancelled.poll_unpin(cx)
        {
            this.done = true;
            // Dropping the batches now stops the plan's tasks.
            this.rows = stream::empty().boxed();
            let e = error::kind_error(ErrorKind::Cancelled, reason);
            return Poll::Ready(Some(Err(e)));
        }
        let next = this.rows.poll_next_unpin(cx);
        if matches!(next, Poll::Ready(None)) {
            this.done = true;
        }
        next
    }
}

/// Answers both protocols. The extended protocol's statements are planned at
/// Parse (see [`PlanParser`]) and only bound and executed here.
#[derive(Debug, Default)]
struct Queries {
    parser: Arc<PlanParser>,
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        tracing::debug!(sql = %query, "pg simple query");
        let _busy = busy(client);
        let session = session_of(client)?;
        let cancel = cancel_handle(client);
        // Planning every statement first means a later statement's planning error
        // runs none of them; for read-only statements that only changes which error wins.
        let plans = plan_text(client, &session, query).await?;
        if plans.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(plans.len());
        for plan in plans {
            let response = match plan {
                Planned::Query(plan) => query_response(client, &session, plan, &Format::UnifiedText, cancel.clone())
                    .await
                    .map(Response::Query),
                Planned::Copy { plan, format } => copy_response(&session, plan, format).await,
                Planned::Declare { cursor, plan } => declare_response(client, &session, cursor, plan).await,
                Planned::Session(command) => session_response(client, command, &Format::UnifiedText).await,
            };
            match response {
                Ok(response) => responses.push(response),
                Err(e) if responses.is_empty() => return Err(e),
                Err(e) => {
                    // Earlier statements still answer; Postgres skips the rest after an error.
                    responses.push(Response::Error(Box::new(ErrorInfo::from(e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// Plans `text` in the session's language. In InfluxQL mode only the session
/// statements that switch back are SQL; everything else waits for the InfluxQL
/// front end.
async fn plan_text<C: ClientInfo>(client: &C, session: &QuerySession, text: &str) -> PgWireResult<Vec<Planned>> {
    let planned = session.plan_sql(text).await;
    if settings_of(client)?.language() == Language::InfluxQl {
        return match planned {
            Ok(plans) if plans.iter().all(|p| matches!(p, Planned::Session(_))) => Ok(plans),
            _ => Err(error::kind_error(
                ErrorKind::Unsupported,
                "InfluxQL over the Postgres wire protocol is not supported yet; SET sediment.query_language = 'sql' to return to SQL",
            )),
        };
    }
    planned.map_err(|e| error::to_pg_error(&e))
}

fn copy_needs_simple_protocol() -> PgWireError {
    error::kind_error(ErrorKind::Unsupported, "COPY TO STDOUT is supported in the simple query protocol only")
}

/// The columns a session command answers with: `SHOW` gives rows, the rest none.
fn command_schema(command: &SessionCommand) -> SchemaRef {
    let fields = match command {
        SessionCommand::Show { name } if name == "all" => {
            vec![Field::new("name", DataType::Utf8, false), Field::new("setting", DataType::Utf8, false)]
        }
        SessionCommand::Show { name } => vec![Field::new(name, DataType::Utf8, false)],
        _ => vec![],
    };
    Arc::new(Schema::new(fields))
}

/// Answers a session command as Postgres does, sending ParameterStatus where it would.
async fn session_response<C>(client: &mut C, command: SessionCommand, format: &Format) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let settings = settings_of(client)?;
    let schema = command_schema(&command);
    let (reports, response) = match command {
        SessionCommand::Set { name, value } => {
            (settings.set(&name, &value)?.into_iter().collect(), Response::Execution(Tag::new("SET")))
        }
        SessionCommand::Reset { name } => (settings.reset(name.as_deref()), Response::Execution(Tag::new("RESET"))),
        SessionCommand::Show { name } => {
            let rows: Vec<Vec<String>> = if name == "all" {
                settings.all().into_iter().map(|(n, v)| vec![n, v]).collect()
            } else {
                let value = settings.get(&name).ok_or_else(|| {
                    error::kind_error(
                        ErrorKind::InvalidRequest,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                vec![vec![value]]
            };
            (Vec::new(), Response::Query(text_response(schema, rows, format)?))
        }
        SessionCommand::NoOp { tag: tag @ "BEGIN" } => (Vec::new(), Response::TransactionStart(Tag::new(tag))),
        SessionCommand::NoOp { tag: tag @ ("COMMIT" | "ROLLBACK") } => {
            (Vec::new(), Response::TransactionEnd(Tag::new(tag)))
        }
        SessionCommand::Fetch { cursor, count } => {
            let (schema, batches) = cursors_of(client)?.fetch(&cursor, count).await.map_err(cursor_error)?;
            let mut response = batches_response(schema, batches, format)?;
            response.command_tag = "FETCH".to_owned();
            (Vec::new(), Response::Query(response))
        }
        SessionCommand::Close { cursor } => {
            cursors_of(client)?.close(cursor.as_deref()).await.map_err(cursor_error)?;
            (Vec::new(), Response::Execution(Tag::new("CLOSE CURSOR")))
        }
        SessionCommand::NoOp { tag: tag @ "DISCARD ALL" } => {
            cursors_of(client)?.close(None).await.map_err(cursor_error)?;
            (settings.reset(None), Response::Execution(Tag::new(tag)))
        }
        SessionCommand::NoOp { tag } => (Vec::new(), Response::Execution(Tag::new(tag))),
    };
    for (name, value) in reports {
        client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name.to_owned(), value))).await?;
    }
    Ok(response)
}

/// A result of text columns, for answers the frontend computes itself.
fn text_response(schema: SchemaRef, rows: Vec<Vec<String>>, format: &Format) -> PgWireResult<QueryResponse> {
    let columns = (0..schema.fields().len())
        .map(|i| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[i].as_str()))) as _)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(|e| error::datafusion_error(e.into()))?;
    batches_response(schema, vec![batch], format)
}

/// A result from batches already in memory (bounded: a FETCH count or a SHOW).
fn batches_response(schema: SchemaRef, batches: Vec<RecordBatch>, format: &Format) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, None)?);
    let rows: Vec<_> = batches.into_iter().flat_map(|b| encode_recordbatch(Arc::clone(&fields), b)).collect();
    Ok(QueryResponse::new(fields, stream::iter(rows)))
}

fn cursors_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Cursors>> {
    client
        .session_extensions()
        .get::<Cursors>()
        .ok_or_else(|| error::kind_error(ErrorKind::Protocol, "no cursors: startup did not complete"))
}

fn cursor_error(e: CursorError) -> PgWireError {
    match e {
        CursorError::Exists(name) => {
            error::kind_error(ErrorKind::AlreadyExists, format!("cursor \"{name}\" already exists"))
        }
        CursorError::Missing(name) => {
            error::kind_error(ErrorKind::InvalidRequest, format!("cursor \"{name}\" does not exist"))
        }
        CursorError::Execution(e) => error::datafusion_error(e),
    }
}

/// `DECLARE c CURSOR FOR query`: the plan starts, and FETCH pulls its rows.
async fn declare_response<C: ClientInfo>(
    client: &C,
    session: &QuerySession,
    cursor: String,
    plan: LogicalPlan,
) -> PgWireResult<Response> {
    let batches = session.execute(plan).await.map_err(|e| error::to_pg_error(&e))?;
    cursors_of(client)?.declare(cursor, batches).await.map_err(cursor_error)?;
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// `COPY (query) TO STDOUT`: the query's rows as CopyData, streamed.
async fn copy_response(
    session: &QuerySession,
    plan: LogicalPlan,
    format: sediment_sql::CopyFormat,
) -> PgWireResult<Response> {
    let columns = plan.schema().fields().len();
    let batches = session.execute(plan).await.map_err(|e| error::to_pg_error(&e))?;
    Ok(Response::CopyOut(CopyResponse::new(0, columns, copy::copy_rows(batches, format))))
}
