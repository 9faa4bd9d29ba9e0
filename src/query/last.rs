//! The newest-point path: plans whose answer depends only on the newest row
//! of each series read the table's last cache ([`crate::storage::last_cache`])
//! instead of its history.
//!
//! ```text
//! DistinctOn(tags… ORDER BY tags…, time DESC)        DistinctOn(…)
//!   Filter(tag predicates, time > c)          ─▶       Filter(…)
//!     TableScan(SedimentTable)                           TableScan(MemTable: newest row per series)
//! ```
//!
//! Why the answer does not change: each series' newest row is in the cache,
//! and the plan keeps, per group of series, the newest row among those that
//! pass its filters. A filter on tags passes all rows of a series or none; a
//! lower bound on time passes the newest row whenever it passes any. So the
//! row the plan keeps from the whole table is always one of the cached rows.
//! Any other filter (on a field, an upper time bound) can reject the newest
//! row and keep an older one: those plans scan.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{SchemaRef, TimestampNanosecondType};
use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::DefaultTableSource;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::Result;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Distinct, DistinctOn, Expr, LogicalPlan, Operator, TableScan};
use datafusion::prelude::{SessionContext, lit};
use sediment_catalog::TIME_COLUMN;

use crate::query::table::{NewestSource, SedimentTable};
use crate::storage::last_cache::Lookup;

/// SQL: each `SELECT DISTINCT ON (tags…) … FROM t [WHERE …] ORDER BY tags…,
/// time DESC` over a sediment table whose filters keep the newest row (see
/// the module docs) reads the table's newest rows.
///
/// # Errors
/// The warming scan of a table failed.
pub(crate) async fn distinct_on_from_cache(plan: LogicalPlan, state: &SessionState) -> Result<LogicalPlan> {
    // Warming is async and tree rewrites are not: find the tables first.
    let mut wanted: Vec<(NewestSource, SchemaRef)> = Vec::new();
    plan.apply(|node| {
        if let Some(table) = newest_distinct_on(node) {
            wanted.push((table.newest.clone(), table.schema()));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if wanted.is_empty() {
        return Ok(plan);
    }
    let mut cached = HashMap::new();
    for (source, schema) in wanted {
        let key = (source.db.clone(), source.table.clone());
        if cached.contains_key(&key) {
            continue;
        }
        if let Some(provider) = newest_rows(&source, schema, state).await?.map(|(provider, _)| provider) {
            cached.insert(key, provider);
        }
    }
    plan.transform_down(|node| {
        let provider = newest_distinct_on(&node)
            .and_then(|table| cached.get(&(table.newest.db.clone(), table.newest.table.clone())))
            .cloned();
        match provider {
            Some(provider) => {
                let node = node.map_children(|input| swap_scan(input, &provider))?.data;
                Ok(Transformed::new(node, true, TreeNodeRecursion::Jump))
            }
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

/// InfluxQL's `ORDER BY time DESC LIMIT 1` over points: `frame` (row-wise
/// filters and projections over one scan, sorted) over the newest rows of
/// each series, when the cache can answer. 1.x skips a point whose selected
/// fields are all null, which could make an older point the answer: so the
/// cache answers only when no newest row lacks a field.
///
/// # Errors
/// The warming scan failed.
pub(crate) async fn newest_points(frame: &DataFrame) -> Result<Option<DataFrame>> {
    let (state, plan) = frame.clone().into_parts();
    let Some(table) = row_wise_scan(&plan) else { return Ok(None) };
    let Some((provider, batch)) = newest_rows(&table.newest, table.schema(), &state).await? else { return Ok(None) };
    let schema = batch.schema();
    let complete = batch.columns().iter().zip(schema.fields()).all(|(column, field)| {
        field.name() == TIME_COLUMN || table.newest.tags.contains(field.name()) || column.null_count() == 0
    });
    if !complete {
        return Ok(None);
    }
    Ok(Some(DataFrame::new(state, swap_scan(plan, &provider)?.data)))
}

/// The sediment table under `node` when `node` is a DISTINCT ON that keeps
/// each series' newest row.
fn newest_distinct_on(node: &LogicalPlan) -> Option<&SedimentTable> {
    let LogicalPlan::Distinct(Distinct::On(DistinctOn { on_expr, sort_expr: Some(sort), input, .. })) = node else {
        return None;
    };
    let table = filtered_scan(input)?;
    let is_tag = |e: &Expr| matches!(e, Expr::Column(c) if table.newest.tags.contains(&c.name));
    let newest_first =
        sort.get(on_expr.len()).is_some_and(|s| !s.asc && matches!(&s.expr, Expr::Column(c) if c.name == TIME_COLUMN));
    (!on_expr.is_empty()
        && on_expr.iter().all(is_tag)
        && sort[..on_expr.len()].iter().all(|s| is_tag(&s.expr))
        && newest_first)
        .then_some(table)
}

/// The sediment table under filters that keep the newest row (and aliases).
fn filtered_scan(plan: &LogicalPlan) -> Option<&SedimentTable> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => filtered_scan(&alias.input),
        LogicalPlan::Filter(filter) => {
            let table = filtered_scan(&filter.input)?;
            keeps_newest(&filter.predicate, &table.newest.tags).then_some(table)
        }
        LogicalPlan::TableScan(scan) => sediment_scan(scan),
        _ => None,
    }
}

/// The sediment table under sorts and projections over [`filtered_scan`].
fn row_wise_scan(plan: &LogicalPlan) -> Option<&SedimentTable> {
    match plan {
        LogicalPlan::Sort(sort) => row_wise_scan(&sort.input),
        LogicalPlan::Projection(projection) => row_wise_scan(&projection.input),
        other => filtered_scan(other),
    }
}

fn sediment_scan(scan: &TableScan) -> Option<&SedimentTable> {
    if scan.fetch.is_some() {
        return None;
    }
    let source = scan.source.as_ref().downcast_ref::<DefaultTableSource>()?;
    let table = source.table_provider.as_ref().downcast_ref::<SedimentTable>()?;
    let tags = &table.newest.tags;
    scan.filters.iter().all(|f| keeps_newest(f, tags)).then_some(table)
}

/// Whether a filter passes a series' newest row whenever it passes any of its rows.
fn keeps_newest(predicate: &Expr, tags: &[String]) -> bool {
    split_conjunction(predicate).into_iter().all(|conjunct| {
        // A subquery can read the row's time or fields through an outer
        // reference, which `column_refs` does not list.
        let subquery = conjunct
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_) | Expr::OuterReferenceColumn(..)
                ))
            })
            .unwrap_or(true);
        if subquery || conjunct.is_volatile() {
            return false;
        }
        if conjunct.column_refs().iter().all(|c| tags.contains(&c.name)) {
            return true;
        }
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = conjunct else { return false };
        let time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == TIME_COLUMN);
        let constant = |e: &Expr| e.column_refs().is_empty();
        match op {
            Operator::Gt | Operator::GtEq => time(left) && constant(right),
            Operator::Lt | Operator::LtEq => constant(left) && time(right),
            _ => false,
        }
    })
}

/// `plan` with every sediment table scan reading `provider` instead.
fn swap_scan(plan: LogicalPlan, provider: &Arc<dyn TableProvider>) -> Result<Transformed<LogicalPlan>> {
    plan.transform_up(|node| match node {
        LogicalPlan::TableScan(scan) if sediment_scan(&scan).is_some() => {
            Ok(Transformed::yes(LogicalPlan::TableScan(TableScan {
                source: provider_as_source(Arc::clone(provider)),
                ..scan
            })))
        }
        other => Ok(Transformed::no(other)),
    })
}

/// The newest row of every series of `source` in `schema` (the table's when
/// the plan was made), warming its cache on first use; `None` when the cache
/// has given up on the table.
async fn newest_rows(
    source: &NewestSource,
    schema: SchemaRef,
    state: &SessionState,
) -> Result<Option<(Arc<dyn TableProvider>, RecordBatch)>> {
    let NewestSource { db, table, buffer, .. } = source;
    let cache = buffer.last_cache();
    for _ in 0..2 {
        match cache.lookup(db, table, &schema)? {
            Lookup::Ready(batch) => {
                let rows: Arc<dyn TableProvider> = Arc::new(MemTable::try_new(schema, vec![vec![batch.clone()]])?);
                return Ok(Some((rows, batch)));
            }
            Lookup::GivenUp => return Ok(None),
            Lookup::Cold => {}
        }
        // Writes from here on reach the cache; a snapshot taken after this
        // holds every earlier one (the plan's own snapshot is older).
        let epoch = cache.begin(db, table);
        let public = state.catalog_list().catalog(db).and_then(|c| c.schema("public"));
        let Some(snapshot) = (match public {
            Some(public) => public.table(table).await?,
            None => None,
        }) else {
            return Ok(None);
        };
        // The tags of now: a tag column added since planning is part of the series key.
        let Some(tags) = snapshot.as_ref().downcast_ref::<SedimentTable>().map(|t| t.newest.tags.clone()) else {
            return Ok(None);
        };
        // A failed warm-up (the memory pool, say) leaves the query to scan as it would have.
        let batches = match warming_scan(snapshot, &tags, state).await {
            Ok(batches) => batches,
            Err(e) => {
                tracing::warn!(db, table, error = %e, "newest-point cache not warmed; scanning instead");
                return Ok(None);
            }
        };
        cache.finish(db, table, epoch, &tags, &batches)?;
    }
    Ok(None)
}

/// The newest row of every series, from the whole table: first each
/// series' newest time (a scan of only the tags and time), then the rows
/// from the oldest of those on, where Parquet statistics and page indexes
/// leave out most of history.
async fn warming_scan(
    table: Arc<dyn TableProvider>,
    tags: &[String],
    state: &SessionState,
) -> Result<Vec<RecordBatch>> {
    use datafusion::functions_aggregate::expr_fn::max;
    let column = |name: &str| Expr::Column(Column::new_unqualified(name));
    let frame = SessionContext::new_with_state(state.clone()).read_table(table)?;
    let newest_first = column(TIME_COLUMN).sort(false, false);
    if tags.is_empty() {
        return frame.sort(vec![newest_first])?.limit(0, Some(1))?.collect().await;
    }
    let on: Vec<Expr> = tags.iter().map(|t| column(t)).collect();
    let probe = frame.clone().aggregate(on.clone(), vec![max(column(TIME_COLUMN)).alias(NEWEST)])?;
    let Some(from) = oldest_newest(probe).await? else { return Ok(Vec::new()) };
    let frame = frame.filter(column(TIME_COLUMN).gt_eq(lit(ScalarValue::TimestampNanosecond(Some(from), None))))?;
    let mut order: Vec<_> = on.iter().map(|e| e.clone().sort(true, true)).collect();
    order.push(newest_first);
    let all: Vec<Expr> = frame.schema().fields().iter().map(|f| column(f.name())).collect();
    frame.distinct_on(on, all, Some(order))?.collect().await
}

/// The column of a newest-time probe: each series' newest time.
pub(crate) const NEWEST: &str = "__newest";

/// The oldest of the series' newest times in `probe` (column [`NEWEST`]):
/// every series has a point at or after it. `None` when there are none.
///
/// # Errors
/// The probe failed to run.
pub(crate) async fn oldest_newest(probe: DataFrame) -> Result<Option<i64>> {
    use datafusion::functions_aggregate::expr_fn::min;
    let oldest = min(Expr::Column(Column::new_unqualified(NEWEST))).alias("__oldest");
    let batches = probe.aggregate(vec![], vec![oldest])?.collect().await?;
    Ok(batches.iter().find(|b| b.num_rows() > 0).and_then(|b| {
        let times = b.column(0).as_primitive_opt::<TimestampNanosecondType>()?;
        times.is_valid(0).then(|| times.value(0))
    }))
}
