//! `SELECT`: every source of FROM (a measurement, a regex of them, or a
//! subquery) becomes a DataFusion plan that filters by WHERE, reads `time`,
//! the GROUP BY tags and the columns the fields name, and sorts by series
//! then time. Its rows stream in series by series; `eval` turns each series
//! into 1.x's output rows (aggregates per bucket, fill, transforms).
//!
//! ```text
//!   source ─► scan plan (filter, project, sort) ─► series ─► eval ─► Series
//! ```

mod compile;
mod eval;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field as ArrowField, Float64Type, Int64Type, Schema as ArrowSchema, TimeUnit};
use arrow::datatypes::{TimestampNanosecondType, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::lit;
use futures::StreamExt;
use sediment_catalog::{CatalogState, ColumnKind, Database, FieldType};
use sediment_sql::influxql::ast::{Dimension, Expr, Fill, Measurement, SelectStatement, Source};
use sediment_sql::influxql::condition::{Scope, column, condition, time_bounds};
use serde_json::Value as Json;

use self::compile::{Compiled, Node, Schema, compile};
use self::eval::{Evaluator, Group, Row, Window};
use super::functions::{Aggregate, Value};
use super::{Context, InfluxqlError, Result, Series, measurements, regex};
use crate::query::{QueryEngine, QuerySession};

/// The rows of one output series before they are encoded.
#[derive(Debug)]
struct Output {
    name: String,
    tags: Vec<(String, String)>,
    columns: Vec<String>,
    rows: Vec<Row>,
}

/// The series a SELECT answers.
///
/// # Errors
/// Invalid fields or functions, bad conditions or regexes, failed scans.
pub(super) async fn select(
    engine: &QueryEngine,
    snapshot: &CatalogState,
    statement: &SelectStatement,
    cx: &Context<'_>,
) -> Result<Vec<Series>> {
    let tz = time_zone(statement)?;
    let sessions = Sessions { engine, snapshot, open: Mutex::new(HashMap::new()), explain: None };
    let outputs = run(&sessions, statement, cx, true).await?;
    Ok(outputs
        .into_iter()
        .map(|o| Series {
            name: Some(o.name),
            tags: (!o.tags.is_empty()).then(|| o.tags.into_iter().collect()),
            columns: std::iter::once("time".to_owned()).chain(o.columns).collect(),
            values: o
                .rows
                .into_iter()
                .map(|(t, values)| std::iter::once(cx.format_time_in(t, tz)).chain(values.iter().map(json)).collect())
                .collect(),
        })
        .collect())
}

/// `EXPLAIN [ANALYZE]`: per source, how its rows become series and the
/// scan DataFusion runs (optimized: the pushed-down filters show what is
/// pruned). A subquery runs, since its rows feed the plan above it; with
/// ANALYZE the statement runs too and the series and rows are counted.
///
/// # Errors
/// As [`select`].
pub(super) async fn explain(
    engine: &QueryEngine,
    snapshot: &CatalogState,
    statement: &SelectStatement,
    analyze: bool,
    cx: &Context<'_>,
) -> Result<Vec<Series>> {
    let explain = Explain { lines: Mutex::new(Vec::new()), analyze };
    let sessions = Sessions { engine, snapshot, open: Mutex::new(HashMap::new()), explain: Some(explain) };
    let started = std::time::Instant::now();
    let outputs = run(&sessions, statement, cx, true).await?;
    let mut lines =
        sessions.explain.map(|e| e.lines.into_inner().unwrap_or_else(|e| e.into_inner())).unwrap_or_default();
    if analyze {
        let rows: usize = outputs.iter().map(|o| o.rows.len()).sum();
        lines.push(format!("EXECUTED: {} series, {rows} rows in {:?}", outputs.len(), started.elapsed()));
    }
    Ok(vec![Series {
        name: None,
        tags: None,
        columns: vec!["QUERY PLAN".into()],
        values: lines.into_iter().map(|l| vec![Json::String(l)]).collect(),
    }])
}

fn time_zone(statement: &SelectStatement) -> Result<Option<chrono_tz::Tz>> {
    statement
        .tz
        .as_deref()
        .map(|name| name.parse().map_err(|_| InfluxqlError::Invalid(format!("unable to find time zone {name}"))))
        .transpose()
}

/// The catalog a statement reads and one DataFusion session per storage
/// database it touches (FROM may name other databases and policies).
struct Sessions<'a> {
    engine: &'a QueryEngine,
    snapshot: &'a CatalogState,
    open: Mutex<HashMap<String, Arc<QuerySession>>>,
    /// Set by EXPLAIN: the plan lines each source adds.
    explain: Option<Explain>,
}

struct Explain {
    lines: Mutex<Vec<String>>,
    /// EXPLAIN ANALYZE runs the statement too.
    analyze: bool,
}

impl Sessions<'_> {
    fn get(&self, db: &str) -> Result<Arc<QuerySession>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = open.get(db) {
            return Ok(Arc::clone(session));
        }
        let session = Arc::new(self.engine.session(db)?);
        open.insert(db.to_owned(), Arc::clone(&session));
        Ok(session)
    }

    /// A session to plan over computed rows: one the subquery opened.
    fn any(&self) -> Result<Arc<QuerySession>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values().next().cloned().ok_or_else(|| InfluxqlError::Invalid("a subquery read no measurement".into()))
    }

    /// The storage database of `[db.[rp.]]m`: the request's database and its default policy unless named.
    fn storage(&self, measurement: &Measurement, cx: &Context<'_>) -> Result<Option<&Database>> {
        let storage = cx.storage_database(self.snapshot, measurement)?;
        Ok(self.snapshot.database(&storage))
    }
}

/// Runs `statement` to internal rows; subqueries recurse through here.
/// `top`: this is the statement itself, not a subquery (which always runs).
fn run<'a>(
    sessions: &'a Sessions<'a>,
    statement: &'a SelectStatement,
    cx: &'a Context<'a>,
    top: bool,
) -> futures::future::BoxFuture<'a, Result<Vec<Output>>> {
    Box::pin(async move {
        let mut resolved = Vec::new();
        for source in &statement.from {
            resolved.extend(sources(sessions, source, cx).await?);
        }
        let mut union: Vec<(String, ColumnKind)> = Vec::new();
        for (_, schema, _) in &resolved {
            for (name, kind) in &schema.columns {
                if !union.iter().any(|(n, _)| n == name) {
                    union.push((name.clone(), *kind));
                }
            }
        }
        union.sort_by(|a, b| a.0.cmp(&b.0));
        let wildcard = Schema { columns: union };
        let mut out = Vec::new();
        for (name, schema, frame) in resolved {
            let Some(prepared) = prepare(&schema, &wildcard, frame, statement, cx)? else { continue };
            if let Some(explain) = &sessions.explain {
                let lines = prepared.describe(&name, statement)?;
                explain.lines.lock().unwrap_or_else(|e| e.into_inner()).extend(lines);
                if top && !explain.analyze {
                    continue;
                }
            }
            out.extend(prepared.series(&name, statement).await?);
        }
        let soffset = usize::try_from(statement.soffset.unwrap_or(0)).unwrap_or(usize::MAX);
        let slimit =
            statement.slimit.filter(|l| *l > 0).map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(out.into_iter().skip(soffset).take(slimit).collect())
    })
}

/// The measurements (name, columns, scan) one FROM entry reads.
async fn sources(
    sessions: &Sessions<'_>,
    source: &Source,
    cx: &Context<'_>,
) -> Result<Vec<(String, Schema, DataFrame)>> {
    match source {
        Source::Measurement(measurement) => {
            let mut out = Vec::new();
            let Some(db) = sessions.storage(measurement, cx)? else { return Ok(out) };
            for table in measurements(db, std::slice::from_ref(source))? {
                let mut columns: Vec<(String, ColumnKind)> = table
                    .columns
                    .iter()
                    .filter(|c| !matches!(c.kind, ColumnKind::Time))
                    .map(|c| (c.name.clone(), c.kind))
                    .collect();
                columns.sort_by(|a, b| a.0.cmp(&b.0));
                let frame = sessions.get(&db.name)?.table(&table.name).await?;
                out.push((table.name.clone(), Schema { columns }, frame));
            }
            Ok(out)
        }
        Source::Subquery(inner) => {
            let rows = run(sessions, inner, cx, false).await?;
            let mut by_name: BTreeMap<String, Vec<Output>> = BTreeMap::new();
            for output in rows {
                by_name.entry(output.name.clone()).or_default().push(output);
            }
            let mut out = Vec::new();
            for (name, outputs) in by_name {
                let (schema, batch) = subquery_batch(&outputs)?;
                let frame = sessions.any()?.read_batch(batch)?;
                out.push((name, schema, frame));
            }
            Ok(out)
        }
    }
}

/// A subquery's series as one table: its tags as tags, its columns as fields.
fn subquery_batch(outputs: &[Output]) -> Result<(Schema, RecordBatch)> {
    let mut tag_keys: Vec<&str> = outputs.iter().flat_map(|o| o.tags.iter().map(|(k, _)| k.as_str())).collect();
    tag_keys.sort_unstable();
    tag_keys.dedup();
    let mut field_names: Vec<&str> = Vec::new();
    for o in outputs {
        for c in &o.columns {
            if !field_names.contains(&c.as_str()) && !tag_keys.contains(&c.as_str()) {
                field_names.push(c);
            }
        }
    }
    let mut times = Vec::new();
    let mut tags: Vec<Vec<Option<String>>> = vec![Vec::new(); tag_keys.len()];
    let mut fields: Vec<Vec<Option<Value>>> = vec![Vec::new(); field_names.len()];
    for o in outputs {
        let index: Vec<Option<usize>> = field_names.iter().map(|f| o.columns.iter().position(|c| c == f)).collect();
        for (t, values) in &o.rows {
            times.push(*t);
            for (k, key) in tag_keys.iter().enumerate() {
                tags[k].push(o.tags.iter().find(|(name, _)| name == key).map(|(_, v)| v.clone()));
            }
            for (f, i) in index.iter().enumerate() {
                fields[f].push(i.and_then(|i| values[i].clone()));
            }
        }
    }
    let mut columns: Vec<(String, ColumnKind)> = Vec::new();
    let mut arrow_fields = vec![ArrowField::new("time", DataType::Timestamp(TimeUnit::Nanosecond, None), false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(arrow::array::TimestampNanosecondArray::from(times))];
    for (key, values) in tag_keys.iter().zip(tags) {
        columns.push(((*key).to_owned(), ColumnKind::Tag));
        arrow_fields.push(ArrowField::new(*key, DataType::Utf8, true));
        arrays.push(Arc::new(arrow::array::StringArray::from(values)));
    }
    for (name, values) in field_names.iter().zip(fields) {
        let (field_type, array) = value_array(values);
        columns.push(((*name).to_owned(), ColumnKind::Field(field_type)));
        arrow_fields.push(ArrowField::new(*name, array.data_type().clone(), true));
        arrays.push(array);
    }
    columns.sort_by(|a, b| a.0.cmp(&b.0));
    let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(arrow_fields)), arrays)
        .map_err(|e| InfluxqlError::from(datafusion::error::DataFusionError::from(e)))?;
    Ok((Schema { columns }, batch))
}

/// An Arrow column of values of one type: integers stay integers unless a float is among them.
fn value_array(values: Vec<Option<Value>>) -> (FieldType, ArrayRef) {
    let kind = values.iter().flatten().fold(None, |kind, v| match (kind, v) {
        (None | Some(FieldType::Integer), Value::Integer(_)) => Some(FieldType::Integer),
        (None | Some(FieldType::UInteger), Value::Unsigned(_)) => Some(FieldType::UInteger),
        (None, Value::String(_)) => Some(FieldType::String),
        (None, Value::Boolean(_)) => Some(FieldType::Boolean),
        (Some(k @ (FieldType::String | FieldType::Boolean)), _) => Some(k),
        _ => Some(FieldType::Float),
    });
    let kind = kind.unwrap_or(FieldType::Float);
    let array: ArrayRef = match kind {
        FieldType::Integer => Arc::new(arrow::array::Int64Array::from_iter(
            values.iter().map(|v| if let Some(Value::Integer(i)) = v { Some(*i) } else { None }),
        )),
        FieldType::UInteger => Arc::new(arrow::array::UInt64Array::from_iter(
            values.iter().map(|v| if let Some(Value::Unsigned(u)) = v { Some(*u) } else { None }),
        )),
        FieldType::String => Arc::new(arrow::array::StringArray::from_iter(
            values.iter().map(|v| if let Some(Value::String(s)) = v { Some(s.as_str()) } else { None }),
        )),
        FieldType::Boolean => Arc::new(arrow::array::BooleanArray::from_iter(
            values.iter().map(|v| if let Some(Value::Boolean(b)) = v { Some(*b) } else { None }),
        )),
        FieldType::Float => Arc::new(arrow::array::Float64Array::from_iter(values.iter().map(|v| match v {
            Some(Value::Float(f)) => Some(*f),
            Some(Value::Integer(i)) => Some(*i as f64),
            Some(Value::Unsigned(u)) => Some(*u as f64),
            _ => None,
        }))),
    };
    (kind, array)
}

/// The tag keys GROUP BY splits series by, sorted, and its time window.
fn dimensions(schema: &Schema, statement: &SelectStatement) -> Result<(Vec<String>, Option<Window>)> {
    let mut tags = Vec::new();
    let mut window = None;
    for dimension in &statement.dimensions {
        match dimension {
            Dimension::Tag(name) => tags.push(name.clone()),
            Dimension::Wildcard => tags.extend(schema.tags().map(str::to_owned)),
            Dimension::Regex(r) => {
                let re = regex(r)?;
                tags.extend(schema.tags().filter(|t| re.is_match(t)).map(str::to_owned));
            }
            // 1.x reads time(0s) as no time grouping at all.
            Dimension::Time { interval: 0, .. } => {}
            Dimension::Time { interval, offset } => {
                if *interval < 0 {
                    return Err(InfluxqlError::Invalid("GROUP BY time() interval must be greater than 0".into()));
                }
                window = Some(Window {
                    interval: *interval,
                    offset: offset.unwrap_or(0).rem_euclid(*interval),
                    tz: time_zone(statement)?,
                });
            }
        }
    }
    tags.sort();
    tags.dedup();
    Ok((tags, window))
}

/// One source ready to run: its compiled fields, GROUP BY and scan plan.
struct Prepared {
    compiled: Compiled,
    tags: Vec<String>,
    window: Option<Window>,
    bounds: (Option<i64>, Option<i64>),
    frame: DataFrame,
    /// The scan answers one row per series and bucket (see [`preaggregate`]).
    preaggregated: bool,
    /// For the newest point of each series: each series' newest time (see [`newest_probe`]).
    newest: Option<DataFrame>,
}

/// Compiles the statement for one source and plans its scan; `None` when the
/// source has none of the selected fields.
fn prepare(
    schema: &Schema,
    wildcard: &Schema,
    frame: DataFrame,
    statement: &SelectStatement,
    cx: &Context<'_>,
) -> Result<Option<Prepared>> {
    let (tags, window) = dimensions(schema, statement)?;
    let Some(compiled) = compile(schema, wildcard, statement, &tags, window.map(|w| w.interval))? else {
        return Ok(None);
    };
    let (compiled, preaggregated) = match window.filter(|w| w.tz.is_none() && preaggregable(&compiled, schema)) {
        Some(window) => (preaggregate(compiled), Some(window)),
        None => (compiled, None),
    };
    let prepared = cx.with_scope(
        |name| schema.kind(name).cloned(),
        |scope| -> Result<_> {
            let mut bounds = match &statement.condition {
                Some(c) => time_bounds(c, scope)?,
                None => (None, None),
            };
            // 1.x: GROUP BY time without an upper bound ends at now().
            if window.is_some() && bounds.1.is_none() {
                bounds.1 = Some(cx.now);
            }
            let frame = filter(frame, statement, scope, bounds)?;
            let newest = newest_probe(&frame, schema, &tags, &compiled, statement)?;
            let frame = match preaggregated {
                Some(window) => aggregate_scan(frame, schema, &tags, &compiled, window)?,
                None => scan(frame, schema, &tags, &compiled)?,
            };
            Ok((bounds, frame, newest))
        },
    )?;
    let (bounds, frame, newest) = prepared;
    Ok(Some(Prepared { compiled, tags, window, bounds, frame, preaggregated: preaggregated.is_some(), newest }))
}

/// `ORDER BY time DESC LIMIT 1` over points (the newest point of each
/// series: Grafana's current-value panels, TSBS's lastpoint): a scan of
/// only `time`, the GROUP BY tags and the selected fields that answers each
/// series' newest time with a selected value (or, in `Prepared::series`, the
/// newest-point cache, which needs the same plain columns).
/// The point scan then starts at the oldest of those, so files, row groups
/// and pages before it are pruned instead of read.
fn newest_probe(
    frame: &DataFrame,
    schema: &Schema,
    tags: &[String],
    compiled: &Compiled,
    statement: &SelectStatement,
) -> Result<Option<DataFrame>> {
    use datafusion::functions_aggregate::expr_fn::max;
    let newest_only = !compiled.is_aggregate()
        && statement.order_desc
        && statement.limit == Some(1)
        && statement.offset.unwrap_or(0) == 0;
    // 1.x skips a point whose selected values are all null, and math can make
    // a value null (sqrt(-1)): then the answer may be older than any bound a
    // probe of plain columns gives, so only plain columns are probed.
    let plain = statement.fields.iter().all(|f| matches!(f.expr, Expr::VarRef { .. } | Expr::Wildcard(_)));
    if !newest_only || !plain {
        return Ok(None);
    }
    // Each series' newest time among the points that have a selected value.
    let has_value = compiled
        .scan
        .iter()
        .filter(|c| matches!(schema.kind(c), Some(ColumnKind::Field(_))))
        .map(|c| column(c).is_not_null())
        .reduce(|a, b| a.or(b));
    let mut probe = frame.clone();
    if let Some(has_value) = has_value {
        probe = probe.filter(has_value)?;
    }
    Ok(Some(probe.aggregate(group_tags(schema, tags), vec![max(column("time")).alias(crate::query::last::NEWEST)])?))
}

/// Whether DataFusion can reduce the buckets itself: GROUP BY time in UTC
/// and only count, mean, sum, min and max of numeric fields, whose results
/// do not depend on which point was picked (1.x's answer carries the bucket
/// start, not the point's time, under GROUP BY time). The evaluator then only
/// fills empty buckets and runs transforms, instead of seeing every point.
fn preaggregable(compiled: &Compiled, schema: &Schema) -> bool {
    fn reads_row(node: &Node) -> bool {
        match node {
            Node::Var(_) | Node::Aux(_) => true,
            Node::Null | Node::Literal(_) | Node::Call(_) => false,
            Node::Binary(_, a, b) => reads_row(a) || reads_row(b),
            Node::Math(_, args) => args.iter().any(reads_row),
            Node::Transform(_, input) => reads_row(input),
        }
    }
    !compiled.calls.is_empty()
        && compiled.calls.iter().all(|call| {
            matches!(
                call.aggregate,
                Aggregate::Count | Aggregate::Mean | Aggregate::Sum | Aggregate::Max | Aggregate::Min
            ) && !call.count_distinct
                && call.tags.is_empty()
                && matches!(
                    schema.kind(&compiled.scan[call.input]),
                    Some(ColumnKind::Field(FieldType::Float | FieldType::Integer))
                )
        })
        && compiled.columns.iter().all(|c| !reads_row(&c.node))
}

/// One scanned column per call, holding that call's result.
fn preaggregate(mut compiled: Compiled) -> Compiled {
    let scan = compiled.calls.iter().map(|c| compiled.scan[c.input].clone()).collect();
    compiled.scan = scan;
    for (i, call) in compiled.calls.iter_mut().enumerate() {
        call.input = i;
    }
    compiled
}

impl Prepared {
    /// EXPLAIN's lines for this source.
    fn describe(&self, name: &str, statement: &SelectStatement) -> Result<Vec<String>> {
        let columns: Vec<&str> = self.compiled.columns.iter().map(|c| c.name.as_str()).collect();
        let mut lines = vec![format!("SOURCE: {name}"), format!("COLUMNS: {}", columns.join(", "))];
        if !self.compiled.calls.is_empty() {
            let calls: Vec<String> = self
                .compiled
                .calls
                .iter()
                .map(|c| format!("{:?}({})", c.aggregate, self.compiled.scan[c.input]))
                .collect();
            lines.push(format!("CALLS: {}", calls.join(", ")));
        }
        let mut group = self.tags.join(", ");
        if let Some(w) = &self.window {
            let time = format!("time({}, {})", super::go_duration(w.interval), super::go_duration(w.offset));
            group = if group.is_empty() { time } else { format!("{time}, {group}") };
        }
        if !group.is_empty() {
            let fill = match &statement.fill {
                None | Some(Fill::Null) => "null".to_owned(),
                Some(Fill::None) => "none".to_owned(),
                Some(Fill::Previous) => "previous".to_owned(),
                Some(Fill::Linear) => "linear".to_owned(),
                Some(Fill::Value(v)) => v.to_string(),
            };
            lines.push(format!("GROUP BY: {group} fill({fill})"));
        }
        lines.push("SCAN:".to_owned());
        let plan = self.frame.clone().into_optimized_plan()?;
        lines.extend(plan.display_indent().to_string().lines().map(|l| format!("  {l}")));
        Ok(lines)
    }

    /// Runs the scan and evaluates each series.
    async fn series(self, name: &str, statement: &SelectStatement) -> Result<Vec<Output>> {
        let Prepared { compiled, tags, window, bounds, mut frame, preaggregated, newest } = self;
        if let Some(probe) = newest {
            if let Some(cached) = crate::query::last::newest_points(&frame).await? {
                frame = cached;
            } else if let Some(from) = crate::query::last::oldest_newest(probe).await? {
                frame =
                    frame.filter(column("__time").gt_eq(lit(ScalarValue::TimestampNanosecond(Some(from), None))))?;
            }
        }
        let fill = statement.fill.clone().unwrap_or(Fill::Null);
        let offset = usize::try_from(statement.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = statement.limit.filter(|l| *l > 0).map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let max_rows = statement.limit.filter(|l| *l > 0).map(|_| offset.saturating_add(limit));
        let descending = statement.order_desc;
        let evaluator =
            Evaluator { compiled: &compiled, window, bounds, fill: &fill, descending, max_rows, preaggregated };
        let columns: Vec<String> = compiled.columns.iter().map(|c| c.name.clone()).collect();
        let mut out = Vec::new();
        let mut finish = |key: Vec<Option<String>>, group: Group| -> Result<()> {
            let mut rows = evaluator.rows(&group)?;
            if statement.order_desc {
                rows.reverse();
            }
            let rows: Vec<Row> = rows.into_iter().skip(offset).take(limit).collect();
            if !rows.is_empty() {
                out.push(Output {
                    name: name.to_owned(),
                    tags: tags.iter().cloned().zip(key.into_iter().map(Option::unwrap_or_default)).collect(),
                    columns: columns.clone(),
                    rows,
                });
            }
            Ok(())
        };
        let mut stream = frame.execute_stream().await?;
        let mut current: Option<(Vec<Option<String>>, Group)> = None;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
            for row in 0..batch.num_rows() {
                let key: Vec<Option<String>> = (0..tags.len()).map(|i| text(batch.column(1 + i), row)).collect();
                if current.as_ref().is_none_or(|(k, _)| *k != key) {
                    if let Some((k, group)) = current.take() {
                        finish(k, group)?;
                    }
                    current = Some((key, Group { times: Vec::new(), columns: vec![Vec::new(); compiled.scan.len()] }));
                }
                let Some((_, group)) = current.as_mut() else { continue };
                group.times.push(times.value(row));
                for (c, values) in group.columns.iter_mut().enumerate() {
                    values.push(cell(batch.column(1 + tags.len() + c), row));
                }
            }
        }
        if let Some((k, group)) = current.take() {
            finish(k, group)?;
        }
        Ok(out)
    }
}

/// WHERE, and the upper time bound GROUP BY time() implies.
fn filter(
    mut frame: DataFrame,
    statement: &SelectStatement,
    scope: &Scope<'_>,
    bounds: (Option<i64>, Option<i64>),
) -> Result<DataFrame> {
    if let Some(c) = &statement.condition {
        frame = frame.filter(condition(c, scope)?)?;
    }
    if let Some(upper) = bounds.1 {
        frame = frame.filter(column("time").lt_eq(lit(ScalarValue::TimestampNanosecond(Some(upper), None))))?;
    }
    Ok(frame)
}

/// A tag or field of the source, or null where it has none.
fn present(schema: &Schema, name: &str) -> datafusion::logical_expr::Expr {
    if schema.kind(name).is_some() { column(name) } else { lit(ScalarValue::Utf8(None)) }
}

/// The GROUP BY tags as `__tag0`, `__tag1`…
fn group_tags(schema: &Schema, tags: &[String]) -> Vec<datafusion::logical_expr::Expr> {
    tags.iter().enumerate().map(|(i, t)| present(schema, t).alias(format!("__tag{i}"))).collect()
}

/// Series (GROUP BY tags, a missing tag first) then time.
fn series_order(tags: usize) -> Vec<datafusion::logical_expr::SortExpr> {
    let mut order: Vec<_> = (0..tags).map(|i| column(&format!("__tag{i}")).sort(true, true)).collect();
    order.push(column("__time").sort(true, true));
    order
}

/// The point scan: time, the GROUP BY tags and the read columns, sorted by
/// series (a missing tag first, as 1.x's '') then time.
fn scan(frame: DataFrame, schema: &Schema, tags: &[String], compiled: &Compiled) -> Result<DataFrame> {
    let mut select = vec![column("time").alias("__time")];
    select.extend(group_tags(schema, tags));
    select.extend(compiled.scan.iter().enumerate().map(|(i, c)| present(schema, c).alias(format!("__col{i}"))));
    let mut order = series_order(tags.len());
    // Rows of one time keep series order, as 1.x merges series. A tag that is
    // also read is sorted by its `__col` alias: carrying the column twice
    // made DataFusion's physical planning of `SELECT *` twice as costly
    // (TSBS high-cpu-1 over InfluxQL and HTTP: 7.6 -> 5.6-6.2 ms).
    order.extend(schema.tags().filter(|t| !tags.iter().any(|g| g == t)).map(|t| {
        match compiled.scan.iter().position(|c| c == t) {
            Some(i) => column(&format!("__col{i}")).sort(true, true),
            None => column(t).sort(true, true),
        }
    }));
    Ok(frame.select(select)?.sort(order)?)
}

/// The bucket scan of a [`preaggregable`] statement: per series and window
/// (`date_bin` on the window's origin), each call's result, in the column
/// layout of [`scan`].
fn aggregate_scan(
    frame: DataFrame,
    schema: &Schema,
    tags: &[String],
    compiled: &Compiled,
    window: Window,
) -> Result<DataFrame> {
    use datafusion::functions::datetime::expr_fn::date_bin;
    use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, sum};
    let stride = lit(ScalarValue::new_interval_mdn(0, 0, window.interval));
    let origin = lit(ScalarValue::TimestampNanosecond(Some(window.offset), None));
    let mut group = group_tags(schema, tags);
    group.push(date_bin(stride, column("time"), origin).alias("__time"));
    let aggregates = compiled
        .calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let input = column(&compiled.scan[call.input]);
            let reduced = match call.aggregate {
                Aggregate::Count => count(input),
                Aggregate::Mean => avg(input),
                Aggregate::Sum => sum(input),
                Aggregate::Max => max(input),
                _ => min(input),
            };
            reduced.alias(format!("__col{i}"))
        })
        .collect();
    let mut select = vec![column("__time")];
    select.extend((0..tags.len()).map(|i| column(&format!("__tag{i}"))));
    select.extend((0..compiled.calls.len()).map(|i| column(&format!("__col{i}"))));
    Ok(frame.aggregate(group, aggregates)?.select(select)?.sort(series_order(tags.len()))?)
}

fn text(array: &ArrayRef, row: usize) -> Option<String> {
    match cell(array, row)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A cell as a 1.x value.
fn cell(array: &ArrayRef, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Value::Integer(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => Value::Unsigned(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Boolean => Value::Boolean(array.as_boolean().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_owned()),
        DataType::Dictionary(..) => {
            let dict = array.as_any_dictionary();
            let key = dict.normalized_keys()[row];
            let values = arrow::compute::cast(dict.values(), &DataType::Utf8).ok()?;
            Value::String(values.as_string::<i32>().value(key).to_owned())
        }
        _ => {
            let text = arrow::compute::cast(array, &DataType::Utf8).ok()?;
            Value::String(text.as_string::<i32>().value(row).to_owned())
        }
    })
}

/// A value as 1.x's JSON has it.
fn json(value: &Option<Value>) -> Json {
    match value {
        None => Json::Null,
        Some(Value::Float(f)) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Some(Value::Integer(i)) => Json::from(*i),
        Some(Value::Unsigned(u)) => Json::from(*u),
        Some(Value::String(s)) => Json::String(s.clone()),
        Some(Value::Boolean(b)) => Json::Bool(*b),
    }
}
