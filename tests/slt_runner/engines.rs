//! The two ways a `.slt` file runs: in this process against a `Node` (data
//! persisted to Parquet after every load, so files and deduplication are
//! what is read), and over the Postgres wire against the real binary (data
//! left in the write buffer, values in binary format).
//!
//! Both understand one statement of their own, which loads line protocol
//! through the real ingest path:
//!
//! ```text
//! statement ok
//! load lp fixtures/cpu.lp        -- a file under tests/slt/
//!
//! statement ok
//! load lp                        -- or the lines themselves
//! cpu,host=a usage=1 1704067200000000000
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use sediment::config::{ServerConfig, StoreConfig};
use sediment::ingest::WriteOptions;
use sediment::query::engine::QuerySession;
use sediment::server::Node;
use sediment_sql::Planned;
use sqllogictest::{AsyncDB, DBOutput};

use crate::server::TestServer;
use crate::values::{PgBinary, SltType, arrow_cell, arrow_type, pg_type};

/// What a statement did wrong, in the terms a Postgres client sees.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct SltError {
    pub(crate) sqlstate: Option<String>,
    pub(crate) message: String,
}

impl SltError {
    fn runner(message: impl Into<String>) -> Self {
        Self { sqlstate: None, message: message.into() }
    }
}

type Output = DBOutput<SltType>;

/// The database every file gets fresh.
pub(crate) const DB: &str = "slt";

/// `load lp ...`: the line protocol to write, or `None` for any other statement.
fn lp_to_load(sql: &str) -> Option<Result<String, SltError>> {
    let (first, rest) = sql.split_once('\n').unwrap_or((sql, ""));
    let arg = first.trim().strip_prefix("load lp")?.trim();
    if arg.is_empty() {
        return Some(Ok(rest.to_owned()));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt").join(arg);
    Some(std::fs::read_to_string(&path).map_err(|e| SltError::runner(format!("{}: {e}", path.display()))))
}

/// A fresh node over an in-memory store, with the file's database created.
pub(crate) async fn in_process_node() -> Result<Arc<Node>, SltError> {
    let config = ServerConfig::embedded(StoreConfig::Memory).map_err(|e| SltError::runner(e.to_string()))?;
    let node = Node::open(&config).await.map_err(|e| SltError::runner(e.to_string()))?;
    node.ingester.create_database(DB).await.map_err(|e| SltError::runner(e.to_string()))?;
    Ok(Arc::new(node))
}

/// One session on a node shared by the file's connections.
pub(crate) struct InProcess {
    node: Arc<Node>,
    session: QuerySession,
}

impl InProcess {
    pub(crate) fn connect(node: Arc<Node>) -> Result<Self, SltError> {
        let session = node.engine.postgres_session(DB).map_err(|e| SltError::runner(e.to_string()))?;
        Ok(Self { node, session })
    }

    async fn load(&self, lp: &str) -> Result<Output, SltError> {
        let node = &self.node;
        let options = WriteOptions { precision: Default::default(), no_sync: false, accept_partial: true };
        let outcome = node.ingester.write_lp(DB, lp, options).await.map_err(|e| SltError::runner(e.to_string()))?;
        if let Some(line) = outcome.rejected.first() {
            return Err(SltError::runner(format!("line {}: {}", line.line_number, line.reason)));
        }
        // Queries then read Parquet; the wire engine reads the buffer. Equal answers
        // from both is what says persistence and deduplication lose nothing.
        node.persist().await.map_err(|e| SltError::runner(e.to_string()))?;
        Ok(DBOutput::StatementComplete(0))
    }

    async fn query(&self, sql: &str) -> Result<Output, SltError> {
        let query_error = |e: &sediment::query::QueryError| {
            let (sqlstate, message) = sediment::pgwire::error::client_error(e);
            SltError { sqlstate: Some(sqlstate.to_owned()), message }
        };
        let planned = self.session.plan_sql(sql).await.map_err(|e| query_error(&e))?;
        let mut output = DBOutput::StatementComplete(0);
        for statement in planned {
            let Planned::Query(plan) = statement else {
                return Err(SltError {
                    sqlstate: Some("0A000".to_owned()),
                    message: "session statements, COPY and cursors run only over the wire (use `onlyif pgwire`)"
                        .to_owned(),
                });
            };
            let stream = self.session.execute(plan).await.map_err(|e| query_error(&e))?;
            let types = stream.schema().fields().iter().map(|f| arrow_type(f.data_type())).collect();
            let batches: Vec<_> =
                stream.try_collect().await.map_err(|e| query_error(&sediment::query::QueryError::DataFusion(e)))?;
            let mut rows = Vec::new();
            for batch in &batches {
                for row in 0..batch.num_rows() {
                    rows.push(batch.columns().iter().map(|c| arrow_cell(c.as_ref(), row)).collect());
                }
            }
            output = DBOutput::Rows { types, rows };
        }
        Ok(output)
    }
}

#[async_trait]
impl AsyncDB for InProcess {
    type Error = SltError;
    type ColumnType = SltType;

    async fn run(&mut self, sql: &str) -> Result<Output, SltError> {
        match lp_to_load(sql) {
            Some(lp) => self.load(&lp?).await,
            None => self.query(sql).await,
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "in-process"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}

/// A file's connection to a started server. Every connection of a file
/// shares the server, so `connection` records see one another's session
/// boundaries but the same data.
pub(crate) struct Wire {
    /// The server and its data directory, both kept until the last connection goes.
    server: Arc<(TestServer, tempfile::TempDir)>,
    client: tokio_postgres::Client,
}

impl Wire {
    pub(crate) async fn connect(server: Arc<(TestServer, tempfile::TempDir)>) -> Result<Self, SltError> {
        let client = server.0.pg_result(DB).await.map_err(|e| SltError::runner(e.to_string()))?;
        Ok(Self { server, client })
    }

    async fn load(&self, lp: String) -> Result<Output, SltError> {
        self.server.0.create_database(DB).await;
        let response = self.server.0.post(&format!("/write?db={DB}"), lp).await;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            // The 1.x body's `error` names each rejected line, like the in-process engine does.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(body);
            return Err(SltError::runner(format!("/write answered {status}: {message}")));
        }
        Ok(DBOutput::StatementComplete(0))
    }

    async fn query(&self, sql: &str) -> Result<Output, SltError> {
        // The extended protocol with binary results: every value crosses the
        // wire in the format drivers such as JDBC, asyncpg and pgx ask for.
        let statement = self.client.prepare(sql).await.map_err(wire_error)?;
        let rows = self.client.query(&statement, &[]).await.map_err(wire_error)?;
        if statement.columns().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = statement.columns().iter().map(|c| pg_type(c.type_())).collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let cell: PgBinary = row.try_get(i).map_err(|e| SltError::runner(format!("column {i}: {e:?}")))?;
                cells.push(cell.into_text());
            }
            out.push(cells);
        }
        Ok(DBOutput::Rows { types, rows: out })
    }
}

fn wire_error(e: tokio_postgres::Error) -> SltError {
    match e.as_db_error() {
        Some(db) => SltError { sqlstate: Some(db.code().code().to_owned()), message: db.message().to_owned() },
        None => SltError::runner(e.to_string()),
    }
}

#[async_trait]
impl AsyncDB for Wire {
    type Error = SltError;
    type ColumnType = SltType;

    async fn run(&mut self, sql: &str) -> Result<Output, SltError> {
        match lp_to_load(sql) {
            Some(lp) => self.load(lp?).await,
            None => self.query(sql).await,
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "pgwire"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}
