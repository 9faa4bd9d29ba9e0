//! One `TableProvider` per table: the table's Parquet files (pruned by time
//! range from the catalog and by Parquet statistics) unioned with its buffered
//! rows, deduplicated only where copies of a point can exist twice.
//!
//! ```text
//! no overlap:  SedimentTable::scan ─▶ Union(Parquet files…, buffer)
//! overlap:     SedimentTable as a view ─▶ Aggregate(group by tags, time;
//!                last_value(field ORDER BY __seq) IGNORE NULLS) ─▶ RawSources::scan ─▶ Union(… + __seq)
//! ```
//!
//! Every source is deduplicated on its own (files at persist time, buffer
//! partitions when snapshotted), so overlap exists only between two sources of
//! the same partition whose time ranges intersect. `__seq` orders the sources:
//! files by generation, then the buffer, so the later write wins.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Operator, TableProviderFilterPushDown,
    TableType,
};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::union::UnionExec;
use sediment_catalog::{ColumnKind, ParquetFile, TIME_COLUMN, Table, TimeRange};

use crate::storage::buffer::{PartitionSnapshot, WriteBuffer};
use crate::storage::table_schema;

/// The column that orders copies of a point by write time, in the dedup plan only.
const SEQ_COLUMN: &str = "__seq";
/// Buffered rows are newer than every file.
const BUFFER_SEQ_BASE: u64 = u64::MAX / 2;

/// What one query sees of one table: a consistent set of files and buffered rows.
#[derive(Debug)]
struct Sources {
    schema: SchemaRef,
    files: Vec<ParquetFile>,
    /// Buffered partitions, aligned to `schema`, oldest first.
    buffer: Vec<(PartitionSnapshot, RecordBatch)>,
    store_url: ObjectStoreUrl,
}

#[derive(Debug)]
pub(crate) struct SedimentTable {
    sources: Arc<Sources>,
    dedup_plan: Option<LogicalPlan>,
    /// Where this table's newest points are cached.
    pub(crate) newest: NewestSource,
}

/// A table's identity in the newest-point cache (see [`crate::query::last`]).
#[derive(Debug, Clone)]
pub(crate) struct NewestSource {
    pub(crate) db: String,
    pub(crate) table: String,
    pub(crate) tags: Vec<String>,
    pub(crate) buffer: Arc<WriteBuffer>,
}

impl SedimentTable {
    pub(crate) fn try_new(
        db: &str,
        table: &Table,
        buffer: Vec<PartitionSnapshot>,
        write_buffer: Arc<WriteBuffer>,
        store_url: ObjectStoreUrl,
    ) -> Result<Self> {
        let schema = table_schema(table);
        let buffer = buffer
            .into_iter()
            .map(|p| {
                let aligned = align(&p.batch, &schema)?;
                Ok((p, aligned))
            })
            .collect::<Result<Vec<_>>>()?;
        let sources = Arc::new(Sources { schema, files: table.files.clone(), buffer, store_url });
        let dedup_plan = if sources.overlap() { Some(dedup_plan(table, &sources)?) } else { None };
        let newest = NewestSource {
            db: db.to_owned(),
            table: table.name.clone(),
            tags: table.tag_columns().map(|c| c.name.clone()).collect(),
            buffer: write_buffer,
        };
        Ok(Self { sources, dedup_plan, newest })
    }
}

impl Sources {
    /// Whether two sources of one partition can hold the same point.
    fn overlap(&self) -> bool {
        let mut ranges: Vec<(&str, TimeRange)> =
            self.files.iter().map(|f| (f.partition.as_str(), f.time_range())).collect();
        ranges.extend(
            self.buffer
                .iter()
                .map(|(p, _)| (p.partition.as_str(), TimeRange::new(p.min_time, p.max_time.saturating_add(1)))),
        );
        sediment_catalog::any_overlap(&mut ranges)
    }

    /// Execution plans of every source that can hold rows in `range`, with `projection`
    /// of the table schema, and the sequence number of each source.
    fn scan_sources(
        &self,
        state: &dyn Session,
        projection: &[usize],
        range: TimeRange,
    ) -> Result<Vec<(Arc<dyn ExecutionPlan>, u64)>> {
        let mut out = Vec::new();
        // Decoded footers and page indexes stay in the runtime's metadata cache
        // (bounded in bytes, shared by every session), so a dashboard refresh
        // does not read and decode them again: files are immutable under a key.
        let runtime = state.runtime_env();
        let readers = Arc::new(CachedParquetFileReaderFactory::new(
            runtime.object_store(&self.store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
        ));
        // No predicate is set on the Parquet sources here: the filters are
        // Inexact, so DataFusion keeps a FilterExec above this scan, and its
        // physical filter pushdown moves that predicate into every Parquet
        // source (through unions, projections and the dedup aggregate's
        // grouping columns). One set here too was evaluated twice.
        for file in self.files.iter().filter(|f| f.time_range().overlaps(&range)) {
            let source = ParquetSource::new(Arc::clone(&self.schema))
                .with_parquet_file_reader_factory(Arc::clone(&readers) as _);
            let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
                .with_projection_indices(Some(projection.to_vec()))?
                .with_file(parquet_file(&file.path, file.size_bytes))
                .build();
            out.push((DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>, file.generation));
        }
        for (i, (partition, batch)) in self.buffer.iter().enumerate() {
            let partition_range = TimeRange::new(partition.min_time, partition.max_time.saturating_add(1));
            if partition_range.overlaps(&range) {
                let exec = MemorySourceConfig::try_new_exec(
                    &[vec![batch.clone()]],
                    Arc::clone(&self.schema),
                    Some(projection.to_vec()),
                )?;
                out.push((exec as Arc<dyn ExecutionPlan>, BUFFER_SEQ_BASE + i as u64));
            }
        }
        Ok(out)
    }
}

/// Pads and reorders a buffered batch to the table schema; absent columns are null.
fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.schema().index_of(f.name()) {
            Ok(i) => Arc::clone(batch.column(i)),
            Err(_) => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// `SELECT tags…, time, last_value(f ORDER BY __seq) IGNORE NULLS AS f … GROUP BY tags…, time`
fn dedup_plan(table: &Table, sources: &Arc<Sources>) -> Result<LogicalPlan> {
    let raw = Arc::new(RawSources { sources: Arc::clone(sources), schema: raw_schema(&sources.schema) });
    let mut aggregates = Vec::new();
    for column in &table.columns {
        match column.kind {
            ColumnKind::Tag | ColumnKind::Time => {}
            ColumnKind::Field(_) => aggregates.push(
                last_value_udaf()
                    .call(vec![Expr::Column(column.name.as_str().into())])
                    .order_by(vec![Expr::Column(SEQ_COLUMN.into()).sort(true, false)])
                    .null_treatment(NullTreatment::IgnoreNulls)
                    .build()?
                    .alias(&column.name),
            ),
        }
    }
    let group: Vec<Expr> = table
        .columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Tag | ColumnKind::Time))
        .map(|c| Expr::Column(c.name.as_str().into()))
        .collect();
    let output: Vec<Expr> = table.columns.iter().map(|c| Expr::Column(c.name.as_str().into())).collect();
    LogicalPlanBuilder::scan(table.name.as_str(), provider_as_source(raw), None)?
        .aggregate(group, aggregates)?
        .project(output)?
        .build()
}

fn raw_schema(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SEQ_COLUMN, DataType::UInt64, false));
    Arc::new(Schema::new(fields))
}

/// The half-open time range that `filters` (ANDed) allow.
fn time_range(filters: &[Expr]) -> TimeRange {
    let mut range = TimeRange::ALL;
    for filter in filters {
        for conjunct in split_conjunction(filter) {
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = conjunct else {
                continue;
            };
            let (op, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) if c.name == TIME_COLUMN => (*op, v),
                (Expr::Literal(v, _), Expr::Column(c)) if c.name == TIME_COLUMN => match op.swap() {
                    Some(op) => (op, v),
                    None => continue,
                },
                _ => continue,
            };
            let ScalarValue::TimestampNanosecond(Some(t), _) = value else {
                continue;
            };
            let t = *t;
            let bound = match op {
                Operator::Eq => TimeRange::new(t, t.saturating_add(1)),
                Operator::Gt => TimeRange::new(t.saturating_add(1), i64::MAX),
                Operator::GtEq => TimeRange::new(t, i64::MAX),
                Operator::Lt => TimeRange::new(i64::MIN, t),
                Operator::LtEq => TimeRange::new(i64::MIN, t.saturating_add(1)),
                _ => continue,
            };
            range = range.intersect(&bound);
        }
    }
    range
}

fn union_or_empty(inputs: Vec<Arc<dyn ExecutionPlan>>, schema: SchemaRef) -> Result<Arc<dyn ExecutionPlan>> {
    if inputs.is_empty() {
        return Ok(Arc::new(EmptyExec::new(schema)));
    }
    UnionExec::try_new(inputs)
}

fn inexact(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    vec![TableProviderFilterPushDown::Inexact; filters.len()]
}

#[async_trait]
impl TableProvider for SedimentTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.sources.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.dedup_plan.as_ref().map(Cow::Borrowed)
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(inexact(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let all: Vec<usize> = (0..self.sources.schema.fields().len()).collect();
        let projection = projection.unwrap_or(&all);
        let schema = Arc::new(self.sources.schema.project(projection)?);
        let inputs = self.sources.scan_sources(state, projection, time_range(filters))?;
        union_or_empty(inputs.into_iter().map(|(exec, _)| exec).collect(), schema)
    }
}

/// The sources with their `__seq`, under the dedup aggregate.
#[derive(Debug)]
struct RawSources {
    sources: Arc<Sources>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for RawSources {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(inexact(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let seq_index = self.schema.fields().len() - 1;
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let projection = projection.unwrap_or(&all);
        let out_schema = Arc::new(self.schema.project(projection)?);
        let mut inner: Vec<usize> = projection.iter().copied().filter(|&i| i != seq_index).collect();
        inner.sort_unstable();
        inner.dedup();
        let inner_schema = self.sources.schema.project(&inner)?;
        let mut inputs = Vec::new();
        for (exec, seq) in self.sources.scan_sources(state, &inner, time_range(filters))? {
            let exprs: Vec<ProjectionExpr> = projection
                .iter()
                .map(|&i| {
                    let name = self.schema.field(i).name().clone();
                    if i == seq_index {
                        ProjectionExpr::new(Arc::new(Literal::new(ScalarValue::UInt64(Some(seq)))), name)
                    } else {
                        let at = inner.iter().position(|&j| j == i).unwrap_or_default();
                        ProjectionExpr::new(Arc::new(Column::new(inner_schema.field(at).name(), at)), name)
                    }
                })
                .collect();
            inputs.push(Arc::new(ProjectionExec::try_new(exprs, exec)?) as Arc<dyn ExecutionPlan>);
        }
        union_or_empty(inputs, out_schema).map_err(|e: DataFusionError| e)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(v), None))
    }

    #[test]
    fn time_bounds_come_from_conjunctions_in_either_order() {
        let t = || col("time");
        let r = time_range(&[t().gt_eq(ts(10)).and(t().lt(ts(20))), ts(12).lt_eq(t())]);
        assert_eq!(r, TimeRange::new(12, 20));
        assert_eq!(time_range(&[t().eq(ts(5))]), TimeRange::new(5, 6));
        assert_eq!(time_range(&[t().gt(ts(5)).or(t().lt(ts(1)))]), TimeRange::ALL);
    }
}

/// A recorded Parquet file for a scan, at its key exactly as recorded.
fn parquet_file(path: &str, size: u64) -> PartitionedFile {
    let mut file = PartitionedFile::new(path, size);
    file.object_meta.location = crate::storage::paths::recorded(path);
    file
}
