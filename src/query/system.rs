//! The `system` schema: what the catalog knows, as tables SQL can read.
//! Built from one catalog snapshot per session, so it never changes under a query.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use sediment_catalog::CatalogState;

fn table(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

/// `system.databases`, `system.tables`, `system.columns`, `system.parquet_files`.
pub(crate) fn system_schema(catalog: &CatalogState) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let dbs = catalog.databases.values();
    schema.register_table(
        "databases".into(),
        table(
            vec![text("database_name"), Field::new("retention_ns", DataType::Int64, true)],
            vec![
                strings(dbs.clone().map(|d| d.name.clone()).collect()),
                Arc::new(Int64Array::from(dbs.clone().map(|d| d.retention_ns).collect::<Vec<_>>())),
            ],
        )?,
    )?;
    let tables: Vec<_> = dbs.clone().flat_map(|d| d.tables.values().map(move |t| (d, t))).collect();
    schema.register_table(
        "tables".into(),
        table(
            vec![text("database_name"), text("table_name"), Field::new("files", DataType::UInt64, false)],
            vec![
                strings(tables.iter().map(|(d, _)| d.name.clone()).collect()),
                strings(tables.iter().map(|(_, t)| t.name.clone()).collect()),
                Arc::new(UInt64Array::from(tables.iter().map(|(_, t)| t.files.len() as u64).collect::<Vec<_>>())),
            ],
        )?,
    )?;
    let columns: Vec<_> = tables.iter().flat_map(|(d, t)| t.columns.iter().map(move |c| (d, t, c))).collect();
    schema.register_table(
        "columns".into(),
        table(
            vec![text("database_name"), text("table_name"), text("column_name"), text("column_type")],
            vec![
                strings(columns.iter().map(|(d, _, _)| d.name.clone()).collect()),
                strings(columns.iter().map(|(_, t, _)| t.name.clone()).collect()),
                strings(columns.iter().map(|(_, _, c)| c.name.clone()).collect()),
                strings(columns.iter().map(|(_, _, c)| c.kind.to_string()).collect()),
            ],
        )?,
    )?;
    let files: Vec<_> = tables.iter().flat_map(|(d, t)| t.files.iter().map(move |f| (d, t, f))).collect();
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, None);
    schema.register_table(
        "parquet_files".into(),
        table(
            vec![
                text("database_name"),
                text("table_name"),
                text("partition"),
                text("path"),
                Field::new("min_time", ts.clone(), false),
                Field::new("max_time", ts, false),
                Field::new("row_count", DataType::UInt64, false),
                Field::new("size_bytes", DataType::UInt64, false),
            ],
            vec![
                strings(files.iter().map(|(d, _, _)| d.name.clone()).collect()),
                strings(files.iter().map(|(_, t, _)| t.name.clone()).collect()),
                strings(files.iter().map(|(_, _, f)| f.partition.clone()).collect()),
                strings(files.iter().map(|(_, _, f)| f.path.clone()).collect()),
                Arc::new(TimestampNanosecondArray::from(files.iter().map(|(_, _, f)| f.min_time).collect::<Vec<_>>())),
                Arc::new(TimestampNanosecondArray::from(files.iter().map(|(_, _, f)| f.max_time).collect::<Vec<_>>())),
                Arc::new(UInt64Array::from(files.iter().map(|(_, _, f)| f.rows).collect::<Vec<_>>())),
                Arc::new(UInt64Array::from(files.iter().map(|(_, _, f)| f.size_bytes).collect::<Vec<_>>())),
            ],
        )?,
    )?;
    Ok(Arc::new(schema))
}
