//! DROP DATABASE, DROP MEASUREMENT, DROP SERIES, DELETE and the data side of
//! DROP RETENTION POLICY. A database's points live in one storage database
//! per retention policy (`Database::policy_database`), and these statements
//! span all of them, as 1.x's span every policy of the database.
//!
//! Conditions become row filters that the persister applies while it
//! rewrites the affected partitions (`storage::persist`), so removed points
//! are gone from Parquet, from the buffer and from any WAL replay.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::error::ArrowError;
use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;
use sediment_catalog::{CatalogState, Database, Table};
use sediment_sql::influxql::ast::{Expr, Source, Statement};
use sediment_sql::influxql::condition::{condition, time_bounds};

use super::{Context, InfluxqlError, Result, measurements};
use crate::query::QueryEngine;
use crate::storage::persist::{Persister, RowFilter};

/// Runs a statement that removes data; `false` when `statement` is not one.
///
/// # Errors
/// No database, a condition 1.x refuses, a failed rewrite or catalog commit.
pub async fn remove(
    engine: &QueryEngine,
    persister: &Persister,
    statement: &Statement,
    cx: &Context<'_>,
) -> Result<bool> {
    let snapshot = engine.catalog().snapshot();
    match statement {
        Statement::DropDatabase { name } => {
            for storage in storage_databases(&snapshot, name) {
                persister.drop_data(&storage, None).await?;
            }
        }
        Statement::DropRetentionPolicy { name, database } => {
            let storage = Database::storage_name(database, name);
            if storage != *database {
                persister.drop_data(&storage, None).await?;
            }
            return Ok(false);
        }
        Statement::DropMeasurement { name } => {
            let db = cx.db.ok_or(InfluxqlError::DatabaseRequired)?;
            for storage in storage_databases(&snapshot, db) {
                persister.drop_data(&storage, Some(name)).await?;
            }
        }
        Statement::DropSeries { from, condition } => {
            if condition.as_ref().is_some_and(mentions_time) {
                return Err(InfluxqlError::Invalid("DROP SERIES doesn't support time in WHERE clause".into()));
            }
            delete(&snapshot, persister, from, condition.as_ref(), cx).await?;
        }
        Statement::Delete { from, condition } => {
            delete(&snapshot, persister, from, condition.as_ref(), cx).await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The storage databases of `db`: its own and one per other retention policy.
fn storage_databases(snapshot: &CatalogState, db: &str) -> Vec<String> {
    let Some(database) = snapshot.database(db) else { return Vec::new() };
    let mut out = vec![db.to_owned()];
    for policy in database.policies() {
        let storage = Database::storage_name(db, &policy.name);
        if !out.contains(&storage) && snapshot.database(&storage).is_some() {
            out.push(storage);
        }
    }
    out
}

fn mentions_time(e: &Expr) -> bool {
    match e {
        Expr::VarRef { name, .. } => name.eq_ignore_ascii_case("time"),
        Expr::Binary { left, right, .. } => mentions_time(left) || mentions_time(right),
        Expr::Paren(inner) | Expr::Negate(inner) => mentions_time(inner),
        _ => false,
    }
}

async fn delete(
    snapshot: &CatalogState,
    persister: &Persister,
    from: &[Source],
    filter: Option<&Expr>,
    cx: &Context<'_>,
) -> Result<u64> {
    let db = cx.db.ok_or(InfluxqlError::DatabaseRequired)?;
    let mut removed = 0;
    for storage in storage_databases(snapshot, db) {
        let Some(database) = snapshot.database(&storage) else { continue };
        for table in measurements(database, from)? {
            let (doomed, range) = row_filter(table, filter, cx)?;
            removed += persister.delete_rows(&storage, &table.name, range, doomed).await?;
        }
    }
    Ok(removed)
}

/// The rows a condition selects in `table`'s rewrite batches, and its time range.
fn row_filter(table: &Table, filter: Option<&Expr>, cx: &Context<'_>) -> Result<(Arc<RowFilter>, (i64, i64))> {
    let Some(filter) = filter else {
        let all: Arc<RowFilter> = Arc::new(|batch: &RecordBatch| Ok(BooleanArray::from(vec![true; batch.num_rows()])));
        return Ok((all, (i64::MIN, i64::MAX)));
    };
    let ((lower, upper), expr) = cx.with_scope(
        |name| table.column(name).map(|c| c.kind),
        |scope| Ok::<_, InfluxqlError>((time_bounds(filter, scope)?, condition(filter, scope)?)),
    )?;
    let schema = crate::storage::persist::rewrite_schema(table);
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    let physical = SessionContext::new().create_physical_expr(expr, &df_schema)?;
    let doomed: Arc<RowFilter> = Arc::new(move |batch: &RecordBatch| {
        let external = |e: datafusion::error::DataFusionError| ArrowError::ExternalError(Box::new(e));
        let values = physical.evaluate(batch).map_err(external)?.into_array(batch.num_rows()).map_err(external)?;
        Ok(values.as_boolean().clone())
    });
    Ok((doomed, (lower.unwrap_or(i64::MIN), upper.unwrap_or(i64::MAX))))
}
