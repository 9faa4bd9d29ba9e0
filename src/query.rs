//! The query engine: DataFusion sessions over catalog snapshots, the write
//! buffer and Parquet files in object storage.

mod cache;
pub mod engine;
pub mod influxql;
mod information_schema;
mod last;
mod percentile;
mod pg_functions;
mod system;
mod table;

pub use engine::{QueryConfig, QueryEngine, QuerySession};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database {0:?} does not exist")]
    DatabaseNotFound(String),
    #[error("table {0:?} does not exist")]
    UnknownTable(String),
    #[error(transparent)]
    Sql(#[from] sediment_sql::SqlError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}
