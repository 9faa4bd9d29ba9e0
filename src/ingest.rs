//! Ingest: line protocol in, durable and queryable points out.
//!
//! ```text
//! body ─lp::parse_body─▶ points ─validate (catalog snapshot)─▶ ops + points + rejected lines
//!      ─catalog.apply(ops)─▶ (schema durable) ─wal.append─▶ (points durable, applied to buffer) ─▶ WriteOutcome
//! ```
//!
//! Knows nothing of HTTP: a partial write is a `WriteOutcome` with rejected
//! lines, not an error.

pub mod lp;
pub mod validate;

use std::sync::Arc;

use sediment_catalog::{Catalog, CatalogError, validate_name};
use tokio::sync::{Mutex, Notify};

use crate::ingest::lp::{Precision, RejectedLine};
use crate::storage::buffer::WriteBuffer;
use crate::storage::wal::{Wal, WalError, WalOp};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid database name: {0}")]
    InvalidDatabase(CatalogError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("write not durable: {0}")]
    Wal(Arc<WalError>),
    #[error("the write buffer is full ({bytes} bytes buffered, limit {limit}); persistence is behind, retry later")]
    Backpressure { bytes: usize, limit: usize },
}

/// What happened to the lines of one request.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// Points stored (and durable, unless the write asked for `no_sync`).
    pub accepted: usize,
    pub rejected: Vec<RejectedLine>,
}

/// How a write request wants its lines treated.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub precision: Precision,
    /// Acknowledge before the WAL file is durable.
    pub no_sync: bool,
    /// Store the valid lines even when others are rejected.
    pub accept_partial: bool,
}

/// Memory bounds of the write path.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Past this many buffered bytes a persist starts.
    pub persist_threshold: usize,
    /// Past this many buffered bytes writes are refused with backpressure.
    pub max_buffer: usize,
}

#[derive(Debug)]
pub struct Ingester {
    catalog: Arc<Catalog>,
    wal: Wal,
    buffer: Arc<WriteBuffer>,
    /// Schema changes are validated and committed one at a time, so two
    /// requests never disagree about a new column's type.
    schema_lock: Mutex<()>,
    limits: IngestLimits,
    persist_wanted: Arc<Notify>,
}

impl Ingester {
    pub fn new(
        catalog: Arc<Catalog>,
        wal: Wal,
        buffer: Arc<WriteBuffer>,
        limits: IngestLimits,
        persist_wanted: Arc<Notify>,
    ) -> Self {
        Self { catalog, wal, buffer, schema_lock: Mutex::new(()), limits, persist_wanted }
    }

    /// Stores the valid lines of `body` in database `db`, creating it and any new
    /// tables and columns. Returns when the stored points are durable and queryable.
    ///
    /// # Errors
    /// Nothing was stored: a bad database name, the catalog or WAL failed, or backpressure.
    pub async fn write_lp(&self, db: &str, body: &str, options: WriteOptions) -> Result<WriteOutcome, IngestError> {
        let WriteOptions { precision, no_sync, accept_partial } = options;
        validate_name(db).map_err(IngestError::InvalidDatabase)?;
        let buffered = self.buffer.bytes();
        if buffered > self.limits.max_buffer {
            self.persist_wanted.notify_one();
            return Err(IngestError::Backpressure { bytes: buffered, limit: self.limits.max_buffer });
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let (points, mut rejected) = lp::parse_body(body, precision, now);
        let mut validated = validate::validate(&self.catalog.snapshot(), db, points, Vec::new());
        if !accept_partial && (!rejected.is_empty() || !validated.rejected.is_empty()) {
            rejected.extend(validated.rejected);
            return Ok(WriteOutcome { accepted: 0, rejected });
        }
        if !validated.ops.is_empty() {
            let _schema = self.schema_lock.lock().await;
            // Another request may have changed the schema since the first check.
            let mut again = validate::validate(&self.catalog.snapshot(), db, validated.points, validated.rejected_tags);
            if !again.ops.is_empty() {
                self.catalog.apply(std::mem::take(&mut again.ops)).await?;
            }
            validated.rejected.extend(again.rejected);
            validated.points = again.points;
        }
        rejected.extend(validated.rejected);
        rejected.sort_by_key(|r| r.line_number);
        if !accept_partial && !rejected.is_empty() {
            return Ok(WriteOutcome { accepted: 0, rejected });
        }
        let accepted = validated.points.len();
        if accepted > 0 {
            let lp = wal_lines(&validated.points, precision, now);
            let op = WalOp { db: db.to_owned(), points: validated.points.into_iter().map(|p| p.point).collect() };
            if no_sync {
                self.wal.append_no_sync(op, lp).await.map_err(|e| IngestError::Wal(Arc::new(e)))?;
            } else {
                self.wal.append(op, lp).await.map_err(IngestError::Wal)?;
            }
        }
        if self.buffer.active_bytes() > self.limits.persist_threshold {
            self.persist_wanted.notify_one();
        }
        Ok(WriteOutcome { accepted, rejected })
    }

    /// Creates database `name` if it does not exist (InfluxQL `CREATE DATABASE` is idempotent).
    ///
    /// # Errors
    /// An invalid name, or the catalog could not be written.
    pub async fn create_database(&self, name: &str) -> Result<(), IngestError> {
        validate_name(name).map_err(IngestError::InvalidDatabase)?;
        if self.catalog.snapshot().database(name).is_none() {
            self.catalog.apply(vec![sediment_catalog::CatalogOp::CreateDatabase { name: name.to_owned() }]).await?;
        }
        Ok(())
    }
}

/// The accepted lines as the WAL keeps them: a line with its own nanosecond
/// timestamp parses back to the same point, so it is copied as sent; others
/// (another precision, or the server's clock as their time) are rewritten.
fn wal_lines(points: &[lp::NumberedPoint<'_>], precision: Precision, now: i64) -> String {
    let mut out = String::with_capacity(points.iter().map(|p| p.line.len() + 1).sum());
    for numbered in points {
        if precision == Precision::Nanosecond && numbered.point.time != now {
            out.push_str(numbered.line);
        } else {
            lp::write_line(&mut out, &numbered.point);
        }
        out.push('\n');
    }
    out
}
