//! Storage: the WAL, the write buffer, and persistence of the buffer as Parquet.
//!
//! ```text
//! Ingester ─▶ wal (durable) ─▶ buffer (queryable) ─▶ persist ─▶ data/…/*.parquet + catalog AddFiles ─▶ wal truncated
//! ```

pub mod buffer;
pub(crate) mod dedup;
pub mod last_cache;
pub(crate) mod paths;
pub mod persist;
pub mod wal;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sediment_catalog::{ColumnKind, FieldType, Table};

/// The Arrow type of a catalog column.
pub fn arrow_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Tag | ColumnKind::Field(FieldType::String) => DataType::Utf8,
        ColumnKind::Time => DataType::Timestamp(TimeUnit::Nanosecond, None),
        ColumnKind::Field(FieldType::Float) => DataType::Float64,
        ColumnKind::Field(FieldType::Integer) => DataType::Int64,
        ColumnKind::Field(FieldType::UInteger) => DataType::UInt64,
        ColumnKind::Field(FieldType::Boolean) => DataType::Boolean,
    }
}

/// The schema SQL sees for a table: columns in catalog order, only `time` not null.
pub fn table_schema(table: &Table) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.kind), c.kind != ColumnKind::Time))
            .collect::<Vec<_>>(),
    ))
}
