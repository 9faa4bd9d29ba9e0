//! sediment: a time-series database whose only state is Parquet files and a
//! catalog in object storage.
//!
//! **A write.** `http` parses the request → `ingest::lp` parses lines →
//! `ingest::validate` checks them against a catalog snapshot → new tables and
//! columns are committed to the catalog → `storage::wal` makes the points
//! durable (fsync or a completed PUT) → `storage::buffer` makes them queryable →
//! the client gets 204 or a partial-write answer. In the background
//! `storage::persist` writes Parquet, registers it, and truncates the WAL.
//!
//! **A query.** `http` or `pgwire` receives text → `query::engine` plans it with
//! `sediment-sql` against a session over the catalog → `query::table` scans
//! buffer ∪ Parquet, deduplicating where copies overlap → record batches stream
//! back, encoded batch by batch.
//!
//! Errors are classified once into `error::ErrorKind` and mapped once per
//! protocol (`http/error.rs`, `pgwire/error.rs`).

pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod ingest;
pub mod pgwire;
pub mod query;
pub mod server;
pub mod storage;
pub mod telemetry;
