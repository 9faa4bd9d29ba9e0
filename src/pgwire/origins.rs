//! Table OIDs and column numbers in RowDescription, for result columns that
//! are a table's column. pgjdbc's `ResultSetMetaData` (and DBeaver and
//! Metabase through it) looks them up in `pg_class`/`pg_attribute` to name a
//! column's table, so they must be the values those catalog tables show.
//!
//! datafusion-pg-catalog hands out OIDs per session as its `pg_class` is
//! read, so the numbers are taken from this session's own `pg_class`, once
//! per table, and kept for the life of the connection.

use std::collections::HashMap;
use std::sync::Mutex;

use ::pgwire::api::results::FieldInfo;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int16Type, Int32Type};
use datafusion::common::TableReference;
use datafusion::logical_expr::{Expr, Limit, LogicalPlan, Sort};
use futures::TryStreamExt as _;

use crate::query::QuerySession;
use crate::query::engine::Planned;

#[derive(Debug, Clone)]
struct TableOrigin {
    oid: i32,
    attnums: HashMap<String, i16>,
}

/// Where each output column comes from: `(table oid, attnum)`.
pub(crate) type Origins = Vec<Option<(i32, i16)>>;

#[derive(Debug, Default)]
pub(crate) struct ColumnOrigins {
    /// `None`: not a table of `public` (a catalog or system table, or gone).
    tables: Mutex<HashMap<String, Option<TableOrigin>>>,
}

impl ColumnOrigins {
    /// The origin of each result column of `plan`: a column of a `public`
    /// table, selected as it is or under an alias, is that table's column.
    pub(crate) async fn of(&self, session: &QuerySession, plan: &LogicalPlan) -> Origins {
        let mut origins = Vec::new();
        for source in sources(plan) {
            let origin = match source {
                Some((table, column))
                    if table.schema().is_none_or(|s| s == "public")
                        && table.catalog().is_none_or(|c| c == session.database()) =>
                {
                    self.table(session, table.table())
                        .await
                        .and_then(|t| t.attnums.get(&column).map(|attnum| (t.oid, *attnum)))
                }
                _ => None,
            };
            origins.push(origin);
        }
        origins
    }

    async fn table(&self, session: &QuerySession, name: &str) -> Option<TableOrigin> {
        if let Some(known) = self.lock().get(name) {
            return known.clone();
        }
        let found = lookup(session, name).await;
        self.lock().insert(name.to_owned(), found.clone());
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<TableOrigin>>> {
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The qualified column behind each output column, where there is one.
fn sources(plan: &LogicalPlan) -> Vec<Option<(TableReference, String)>> {
    let mut node = plan;
    // Nodes that keep their input's columns as they are.
    while let LogicalPlan::Sort(Sort { input, .. }) | LogicalPlan::Limit(Limit { input, .. }) = node {
        node = input;
    }
    if let LogicalPlan::Projection(projection) = node {
        return projection
            .expr
            .iter()
            .map(|e| match e.clone().unalias_nested().data {
                Expr::Column(c) => c.relation.map(|r| (r, c.name)),
                _ => None,
            })
            .collect();
    }
    let schema = plan.schema();
    (0..schema.fields().len())
        .map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            qualifier.map(|q| (q.clone(), field.name().clone()))
        })
        .collect()
}

async fn lookup(session: &QuerySession, table: &str) -> Option<TableOrigin> {
    let sql = format!(
        "SELECT c.oid, a.attname, a.attnum FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
         WHERE n.nspname = 'public' AND c.relname = '{}'",
        table.replace('\'', "''")
    );
    let Ok(mut planned) = session.plan_sql(&sql).await else {
        return None;
    };
    let Some(Planned::Query(plan)) = planned.pop() else {
        return None;
    };
    let batches: Vec<_> = session.execute(plan).await.ok()?.try_collect().await.ok()?;
    let mut origin: Option<TableOrigin> = None;
    for batch in &batches {
        let oids = batch.column(0).as_primitive_opt::<Int32Type>()?;
        let names = batch.column(1).as_string_opt::<i32>()?;
        let attnums = batch.column(2).as_primitive_opt::<Int16Type>()?;
        for row in 0..batch.num_rows() {
            if oids.is_null(row) || names.is_null(row) || attnums.is_null(row) {
                continue;
            }
            let entry = origin.get_or_insert_with(|| TableOrigin { oid: oids.value(row), attnums: HashMap::new() });
            entry.attnums.insert(names.value(row).to_owned(), attnums.value(row));
        }
    }
    origin
}

/// `fields` with the table OID and column number of each column that has them.
pub(crate) fn apply(fields: Vec<FieldInfo>, origins: &[Option<(i32, i16)>]) -> Vec<FieldInfo> {
    fields
        .into_iter()
        .zip(origins.iter().chain(std::iter::repeat(&None)))
        .map(|(field, origin)| match origin {
            None => field,
            Some((oid, attnum)) => FieldInfo::new(
                field.name().to_owned(),
                Some(*oid),
                Some(*attnum),
                field.datatype().clone(),
                field.format(),
            )
            .with_format_options(std::sync::Arc::clone(field.format_options()))
            .with_type_size(field.type_size())
            .with_type_modifier(field.type_modifier()),
        })
        .collect()
}
