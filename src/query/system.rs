//! The `system` schema: what the catalog knows, as tables SQL can read.
//! Each table is built from the newest catalog snapshot when a query names
//! it, so a long-lived session (a pooled Postgres connection) sees new
//! tables and files, and one query never sees the catalog change under it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use sediment_catalog::{Catalog, CatalogState};

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

const TABLES: [&str; 4] = ["databases", "tables", "columns", "parquet_files"];

#[derive(Debug)]
pub(crate) struct SystemSchema {
    catalog: Arc<Catalog>,
}

impl SystemSchema {
    pub(crate) fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| (*t).to_owned()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = system_table(name, &self.catalog.snapshot())?;
        Ok(table.map(|t| t as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}

/// `system.databases`, `system.tables`, `system.columns`, `system.parquet_files`.
fn system_table(name: &str, catalog: &CatalogState) -> Result<Option<Arc<MemTable>>> {
    let dbs = catalog.databases.values();
    let tables: Vec<_> = dbs.clone().flat_map(|d| d.tables.values().map(move |t| (d, t))).collect();
    let columns: Vec<_> = tables.iter().flat_map(|(d, t)| t.columns.iter().map(move |c| (d, t, c))).collect();
    let files: Vec<_> = tables.iter().flat_map(|(d, t)| t.files.iter().map(move |f| (d, t, f))).collect();
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, None);
    let table = match name {
        "databases" => table(
            vec![text("database_name"), Field::new("retention_ns", DataType::Int64, true)],
            vec![
                strings(dbs.clone().map(|d| d.name.clone()).collect()),
                Arc::new(Int64Array::from(dbs.clone().map(|d| d.retention_ns).collect::<Vec<_>>())),
            ],
        )?,
        "tables" => table(
            vec![text("database_name"), text("table_name"), Field::new("files", DataType::UInt64, false)],
            vec![
                strings(tables.iter().map(|(d, _)| d.name.clone()).collect()),
                strings(tables.iter().map(|(_, t)| t.name.clone()).collect()),
                Arc::new(UInt64Array::from(tables.iter().map(|(_, t)| t.files.len() as u64).collect::<Vec<_>>())),
            ],
        )?,
        "columns" => table(
            vec![text("database_name"), text("table_name"), text("column_name"), text("column_type")],
            vec![
                strings(columns.iter().map(|(d, _, _)| d.name.clone()).collect()),
                strings(columns.iter().map(|(_, t, _)| t.name.clone()).collect()),
                strings(columns.iter().map(|(_, _, c)| c.name.clone()).collect()),
                strings(columns.iter().map(|(_, _, c)| c.kind.to_string()).collect()),
            ],
        )?,
        "parquet_files" => table(
            vec![
                text("database_name"),
                text("table_name"),
                text("partition"),
                text("path"),
                Field::new("min_time", ts.clone(), false),
                Field::new("max_time", ts.clone(), false),
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
        _ => return Ok(None),
    };
    Ok(Some(table))
}
