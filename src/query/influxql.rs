//! InfluxQL statements that describe a database rather than read its points:
//! SHOW DATABASES, MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS, SERIES and
//! RETENTION POLICIES. The answers are InfluxDB 1.x's result model, series of
//! rows, which `http` encodes.
//!
//! Names and types come from the catalog; tag values and series come from the
//! data (buffer and Parquet, deduplicated), through DataFusion plans.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::logical_expr::Expr as DfExpr;
use regex::Regex;
use sediment_catalog::{CatalogOp, ColumnKind, Database, RetentionPolicy, Table};
use sediment_sql::influxql::ast::{
    Cardinality, Literal, Measurement, MeasurementName, RetentionPolicySpec, Source, Statement, TagKeyMatch,
};
use sediment_sql::influxql::condition::{ConditionError, Scope, column, condition};
use serde_json::Value;

use crate::query::{QueryEngine, QueryError, QuerySession};

mod ddl;
mod functions;
pub mod into;
mod select;

pub use ddl::remove;

/// One series of a 1.x result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum InfluxqlError {
    #[error("database name required")]
    DatabaseRequired,
    #[error("database not found: {0}")]
    DatabaseNotFound(String),
    #[error("{0}")]
    Condition(#[from] ConditionError),
    #[error("invalid regex /{0}/: {1}")]
    Regex(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not supported yet")]
    Unsupported(String),
    #[error("{0}")]
    Catalog(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Storage(#[from] crate::storage::persist::PersistError),
}

impl From<datafusion::error::DataFusionError> for InfluxqlError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self::Query(QueryError::DataFusion(e))
    }
}

type Result<T, E = InfluxqlError> = std::result::Result<T, E>;

/// What a statement runs with: the request's database, bound parameters and clock.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub db: Option<&'a str>,
    /// `rp=`: the retention policy of sources in `db` that name none.
    pub rp: Option<&'a str>,
    pub params: &'a BTreeMap<String, Literal>,
    /// Nanoseconds since the epoch when the request arrived.
    pub now: i64,
    /// `epoch=`: times as integers in units of this many nanoseconds; RFC3339 text without it.
    pub epoch: Option<i64>,
}

impl Context<'_> {
    /// The storage database behind `[db.[rp.]]measurement`: the request's
    /// database unless named, and the request's `rp=` (for that database) or
    /// else the database's default policy.
    ///
    /// # Errors
    /// No database named or known, an unknown retention policy.
    fn storage_database(&self, snapshot: &sediment_catalog::CatalogState, measurement: &Measurement) -> Result<String> {
        let db = measurement
            .database
            .as_deref()
            .or(self.db)
            .filter(|d| !d.is_empty())
            .ok_or(InfluxqlError::DatabaseRequired)?;
        let database = snapshot.database(db).ok_or_else(|| InfluxqlError::DatabaseNotFound(db.to_owned()))?;
        let request_rp = self.rp.filter(|rp| !rp.is_empty() && Some(db) == self.db);
        let rp = measurement.retention_policy.as_deref().filter(|rp| !rp.is_empty()).or(request_rp);
        database
            .policy_database(rp)
            .ok_or_else(|| InfluxqlError::Invalid(format!("retention policy not found: {}", rp.unwrap_or_default())))
    }

    fn format_time(&self, nanos: i64) -> Value {
        self.format_time_in(nanos, None)
    }

    /// The time 1.x gives rows that have none of their own (INTO's `written`).
    pub fn format_epoch_zero(&self) -> Value {
        self.format_time(0)
    }

    /// Runs `f` with the scope a condition on one measurement is read in:
    /// `kind` says what each of its columns is, and this request binds the
    /// parameters and the clock.
    fn with_scope<R>(&self, kind: impl Fn(&str) -> Option<ColumnKind>, f: impl FnOnce(&Scope<'_>) -> R) -> R {
        let has_column = |name: &str| kind(name).is_some();
        let is_tag = |name: &str| matches!(kind(name), Some(ColumnKind::Tag));
        let params = |name: &str| self.params.get(name).cloned();
        f(&Scope { has_column: &has_column, is_tag: &is_tag, params: &params, now: self.now })
    }

    /// RFC3339 in `tz` (a SELECT's `tz()`), or UTC.
    fn format_time_in(&self, nanos: i64, tz: Option<chrono_tz::Tz>) -> Value {
        let utc = chrono::DateTime::from_timestamp_nanos(nanos);
        match (self.epoch, tz) {
            (Some(unit), _) => Value::from(nanos.div_euclid(unit)),
            (None, Some(tz)) => {
                Value::String(utc.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            (None, None) => Value::String(utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        }
    }
}

/// The nanoseconds of an `epoch=` unit.
pub fn epoch_unit(name: &str) -> Option<i64> {
    Some(match name {
        "n" | "ns" => 1,
        "u" | "µ" | "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// One session for all the scans of a statement, made on first use: most
/// meta statements answer from the catalog and never need one.
struct LazySession<'a> {
    engine: &'a QueryEngine,
    db: &'a str,
    session: tokio::sync::OnceCell<QuerySession>,
}

impl<'a> LazySession<'a> {
    fn new(engine: &'a QueryEngine, db: &'a str) -> Self {
        Self { engine, db, session: tokio::sync::OnceCell::new() }
    }

    async fn get(&self) -> Result<&QuerySession> {
        self.session.get_or_try_init(|| async { Ok(self.engine.session(self.db)?) }).await
    }
}

fn regex(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| InfluxqlError::Regex(pattern.to_owned(), e.to_string()))
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// The series a meta statement answers, or `None` when `statement` is not one.
///
/// # Errors
/// No database, an unknown database, a bad condition or regex, a failed scan.
pub async fn show(engine: &QueryEngine, statement: &Statement, cx: &Context<'_>) -> Result<Option<Vec<Series>>> {
    let snapshot = engine.catalog().snapshot();
    let database = |on: &Option<String>| -> Result<Database> {
        let name = on.as_deref().or(cx.db).filter(|d| !d.is_empty()).ok_or(InfluxqlError::DatabaseRequired)?;
        snapshot.database(name).cloned().ok_or_else(|| InfluxqlError::DatabaseNotFound(name.to_owned()))
    };
    let series = match statement {
        Statement::ShowDatabases => {
            // `db/rp` holds a policy's points (`Database::policy_database`): not a database of its own.
            let is_policy_storage = |name: &str| {
                name.rsplit_once('/').is_some_and(|(db, rp)| {
                    snapshot.database(db).is_some_and(|d| d.policies().iter().any(|p| p.name == rp))
                })
            };
            let values: Vec<Vec<Value>> =
                snapshot.databases.keys().filter(|d| !is_policy_storage(d)).map(|d| vec![text(d)]).collect();
            one_series(Some("databases"), &["name"], values)
        }
        Statement::ShowRetentionPolicies { on } => {
            let db = database(on)?;
            let values = db
                .policies()
                .iter()
                .map(|p| {
                    vec![
                        text(&p.name),
                        text(&go_duration(p.duration_ns)),
                        text(&go_duration(p.shard_duration_ns)),
                        Value::from(p.replication),
                        Value::Bool(p.default),
                    ]
                })
                .collect();
            one_series(None, &["name", "duration", "shardGroupDuration", "replicaN", "default"], values)
        }
        Statement::ShowMeasurements { on, with_measurement, condition: filter, limit, offset } => {
            let db = database(on)?;
            let session = LazySession::new(engine, &db.name);
            let mut names = Vec::new();
            for table in db.tables.values() {
                let named = match with_measurement {
                    None => true,
                    Some(MeasurementName::Name(n)) => &table.name == n,
                    Some(MeasurementName::Regex(r)) => regex(r)?.is_match(&table.name),
                };
                if named && has_rows(&session, table, filter.as_ref(), cx).await? {
                    names.push(vec![text(&table.name)]);
                }
            }
            one_series(Some("measurements"), &["name"], page(names, *limit, *offset))
        }
        Statement::ShowTagKeys { on, from, condition: filter, limit, offset } => {
            let db = database(on)?;
            let session = LazySession::new(engine, &db.name);
            let mut out = Vec::new();
            for table in measurements(&db, from)? {
                if filter.is_some() && !has_rows(&session, table, filter.as_ref(), cx).await? {
                    continue;
                }
                let keys = sorted(columns(table, |k| matches!(k, ColumnKind::Tag)).map(|(name, _)| vec![text(name)]));
                if let Some(s) = named_series(&table.name, &["tagKey"], page(keys, *limit, *offset)) {
                    out.push(s);
                }
            }
            out
        }
        Statement::ShowFieldKeys { on, from, limit, offset } => {
            let db = database(on)?;
            let mut out = Vec::new();
            for table in measurements(&db, from)? {
                let fields = sorted(table.columns.iter().filter_map(|c| match c.kind {
                    ColumnKind::Field(t) => Some(vec![text(&c.name), text(&t.to_string())]),
                    _ => None,
                }));
                if let Some(s) = named_series(&table.name, &["fieldKey", "fieldType"], page(fields, *limit, *offset)) {
                    out.push(s);
                }
            }
            out
        }
        Statement::ShowTagValues { on, from, key, condition: filter, limit, offset } => {
            let db = database(on)?;
            let session = LazySession::new(engine, &db.name);
            let mut out = Vec::new();
            for table in measurements(&db, from)? {
                let mut keys = Vec::new();
                for (name, _) in columns(table, |k| matches!(k, ColumnKind::Tag)) {
                    if key_matches(key, name)? {
                        keys.push(name.to_owned());
                    }
                }
                keys.sort();
                let mut values = Vec::new();
                for k in &keys {
                    for v in distinct(&session, table, std::slice::from_ref(k), filter.as_ref(), cx).await? {
                        if let Some(Some(v)) = v.into_iter().next() {
                            values.push(vec![text(k), text(&v)]);
                        }
                    }
                }
                if let Some(s) = named_series(&table.name, &["key", "value"], page(values, *limit, *offset)) {
                    out.push(s);
                }
            }
            out
        }
        Statement::ShowSeries { on, from, condition: filter, limit, offset } => {
            let db = database(on)?;
            let session = LazySession::new(engine, &db.name);
            let mut keys = Vec::new();
            for table in measurements(&db, from)? {
                let tags: Vec<String> =
                    columns(table, |k| matches!(k, ColumnKind::Tag)).map(|(n, _)| n.to_owned()).collect();
                let mut sorted_tags = tags.clone();
                sorted_tags.sort();
                let rows = if tags.is_empty() {
                    if has_rows(&session, table, filter.as_ref(), cx).await? { vec![Vec::new()] } else { Vec::new() }
                } else {
                    distinct(&session, table, &sorted_tags, filter.as_ref(), cx).await?
                };
                for row in rows {
                    keys.push(series_key(&table.name, &sorted_tags, &row));
                }
            }
            keys.sort();
            let values = keys.into_iter().map(|k| vec![Value::String(k)]).collect();
            one_series(None, &["key"], page(values, *limit, *offset))
        }
        Statement::ShowCardinality { what, exact, on, from, key, condition } => {
            let db = database(on)?;
            cardinality(engine, &db, *what, *exact, from, key.as_ref(), condition.as_ref(), cx).await?
        }
        Statement::ShowUsers => {
            // Every sediment user may do everything: all are admins in 1.x's terms.
            let values = snapshot.users.keys().map(|name| vec![text(name), Value::Bool(true)]).collect();
            vec![Series { name: None, tags: None, columns: vec!["user".into(), "admin".into()], values }]
        }
        Statement::Select(select) => select::select(engine, &snapshot, select, cx).await?,
        Statement::Explain { analyze, select } => select::explain(engine, &snapshot, select, *analyze, cx).await?,
        _ => return Ok(None),
    };
    Ok(Some(series))
}

/// `SHOW <what> [EXACT] CARDINALITY`: the rows of the matching SHOW, counted.
/// Like 1.x, measurements and (estimated) series are one total; the exact
/// series count, tag keys, tag values and field keys are per measurement.
#[allow(clippy::too_many_arguments)]
async fn cardinality(
    engine: &QueryEngine,
    db: &Database,
    what: Cardinality,
    exact: bool,
    from: &[Source],
    key: Option<&TagKeyMatch>,
    condition: Option<&sediment_sql::influxql::ast::Expr>,
    cx: &Context<'_>,
) -> Result<Vec<Series>> {
    let on = Some(db.name.clone());
    let (condition, from_owned) = (condition.cloned(), from.to_vec());
    let listing = match what {
        Cardinality::Measurement | Cardinality::Series => {
            Statement::ShowSeries { on, from: from_owned, condition, limit: None, offset: None }
        }
        Cardinality::TagKey => Statement::ShowTagKeys { on, from: from_owned, condition, limit: None, offset: None },
        Cardinality::TagValues => Statement::ShowTagValues {
            on,
            from: from_owned,
            key: key
                .cloned()
                .ok_or_else(|| InfluxqlError::Invalid("SHOW TAG VALUES CARDINALITY needs WITH KEY".into()))?,
            condition,
            limit: None,
            offset: None,
        },
        Cardinality::FieldKey => Statement::ShowFieldKeys { on, from: from_owned, limit: None, offset: None },
    };
    let listed = Box::pin(show(engine, &listing, cx)).await?.unwrap_or_default();
    let count = |n: usize| vec![vec![Value::from(n)]];
    Ok(match what {
        Cardinality::Measurement | Cardinality::Series => {
            // SHOW SERIES answers one series of keys `measurement,tag=value...`.
            let keys: Vec<&str> = listed.iter().flat_map(|s| &s.values).filter_map(|row| row[0].as_str()).collect();
            if what == Cardinality::Measurement {
                let mut names: Vec<String> = keys.iter().map(|k| series_measurement(k)).collect();
                names.sort();
                names.dedup();
                let column = if exact { "count" } else { "cardinality estimation" };
                one_series(None, &[column], count(names.len()))
            } else if exact {
                let mut per: BTreeMap<String, usize> = BTreeMap::new();
                for k in keys {
                    *per.entry(series_measurement(k)).or_default() += 1;
                }
                per.into_iter().filter_map(|(name, n)| named_series(&name, &["count"], count(n))).collect()
            } else {
                one_series(None, &["cardinality estimation"], count(keys.len()))
            }
        }
        _ => listed
            .into_iter()
            .filter_map(|s| named_series(s.name.as_deref().unwrap_or_default(), &["count"], count(s.values.len())))
            .collect(),
    })
}

/// The measurement of a series key (up to its first unescaped comma), unescaped.
fn series_measurement(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut escaped = false;
    for c in key.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => break,
            c => {
                out.push(c);
                escaped = false;
            }
        }
    }
    out
}

/// Runs a retention-policy statement; `false` when `statement` is not one.
///
/// # Errors
/// An unknown database or policy, a policy that exists with other settings,
/// or the catalog could not be written.
pub async fn retention_policy(engine: &QueryEngine, statement: &Statement) -> Result<bool> {
    let catalog = engine.catalog();
    let snapshot = catalog.snapshot();
    let database =
        |name: &str| snapshot.database(name).cloned().ok_or_else(|| InfluxqlError::DatabaseNotFound(name.to_owned()));
    let op = match statement {
        Statement::CreateRetentionPolicy { name, database: db, spec, default } => {
            let existing = database(db)?.policies().into_iter().find(|p| &p.name == name);
            let policy = policy_from_spec(name, spec, *default, None);
            match existing {
                Some(e) if RetentionPolicy { default: e.default || *default, ..policy.clone() } == e => {
                    return Ok(true);
                }
                Some(_) => return Err(InfluxqlError::Catalog("retention policy already exists".into())),
                None => CatalogOp::SetRetentionPolicy { db: db.clone(), policy },
            }
        }
        Statement::AlterRetentionPolicy { name, database: db, spec, default } => {
            let existing = database(db)?
                .policies()
                .into_iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| InfluxqlError::Catalog(format!("retention policy not found: {name}")))?;
            let policy = policy_from_spec(name, spec, *default || existing.default, Some(&existing));
            CatalogOp::SetRetentionPolicy { db: db.clone(), policy }
        }
        Statement::DropRetentionPolicy { name, database: db } => {
            // 1.x drops a missing policy without complaint.
            if !database(db)?.policies().iter().any(|p| &p.name == name) {
                return Ok(true);
            }
            CatalogOp::DropRetentionPolicy { db: db.clone(), name: name.clone() }
        }
        _ => return Ok(false),
    };
    catalog.apply(vec![op]).await.map_err(|e| InfluxqlError::Catalog(e.to_string()))?;
    Ok(true)
}

/// `CREATE DATABASE db WITH ...`: the database's default policy is the one
/// described (named `autogen` unless `NAME` says otherwise), replacing the
/// implicit `autogen` of a database that has no policies yet.
///
/// # Errors
/// The database does not exist or the catalog could not be written.
pub async fn set_database_policy(engine: &QueryEngine, db: &str, spec: &RetentionPolicySpec) -> Result<()> {
    let catalog = engine.catalog();
    let database =
        catalog.snapshot().database(db).cloned().ok_or_else(|| InfluxqlError::DatabaseNotFound(db.to_owned()))?;
    let name = spec.name.as_deref().unwrap_or(RetentionPolicy::AUTOGEN);
    let policy = policy_from_spec(name, spec, true, None);
    let mut ops = vec![CatalogOp::SetRetentionPolicy { db: db.to_owned(), policy }];
    if database.retention_policies.is_empty() && name != RetentionPolicy::AUTOGEN {
        ops.push(CatalogOp::DropRetentionPolicy { db: db.to_owned(), name: RetentionPolicy::AUTOGEN.to_owned() });
    }
    catalog.apply(ops).await.map_err(|e| InfluxqlError::Catalog(e.to_string()))?;
    Ok(())
}

/// The policy a CREATE or ALTER describes; ALTER keeps what it does not mention.
pub fn policy_from_spec(
    name: &str,
    spec: &RetentionPolicySpec,
    default: bool,
    existing: Option<&RetentionPolicy>,
) -> RetentionPolicy {
    let duration_ns = spec.duration.or(existing.map(|e| e.duration_ns)).unwrap_or(0);
    let shard_duration_ns = spec
        .shard_duration
        .filter(|d| *d > 0)
        .or(existing.map(|e| e.shard_duration_ns))
        .unwrap_or_else(|| RetentionPolicy::default_shard_duration(duration_ns));
    let replication =
        spec.replication.and_then(|r| u32::try_from(r).ok()).or(existing.map(|e| e.replication)).unwrap_or(1);
    RetentionPolicy { name: name.to_owned(), duration_ns, shard_duration_ns, replication, default }
}

fn one_series(name: Option<&str>, columns: &[&str], values: Vec<Vec<Value>>) -> Vec<Series> {
    if values.is_empty() {
        return Vec::new();
    }
    vec![Series {
        name: name.map(str::to_owned),
        tags: None,
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        values,
    }]
}

fn named_series(name: &str, columns: &[&str], values: Vec<Vec<Value>>) -> Option<Series> {
    one_series(Some(name), columns, values).pop()
}

fn sorted(rows: impl Iterator<Item = Vec<Value>>) -> Vec<Vec<Value>> {
    let mut rows: Vec<_> = rows.collect();
    rows.sort_by(|a, b| a.first().and_then(Value::as_str).cmp(&b.first().and_then(Value::as_str)));
    rows
}

fn page<T>(rows: Vec<T>, limit: Option<u64>, offset: Option<u64>) -> Vec<T> {
    let offset = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit = limit.filter(|l| *l > 0).map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    rows.into_iter().skip(offset).take(limit).collect()
}

fn columns(table: &Table, want: impl Fn(&ColumnKind) -> bool) -> impl Iterator<Item = (&str, &ColumnKind)> {
    table.columns.iter().filter(move |c| want(&c.kind)).map(|c| (c.name.as_str(), &c.kind))
}

/// The measurements `from` names (all of them when it is empty).
fn measurements<'a>(db: &'a Database, from: &[Source]) -> Result<Vec<&'a Table>> {
    if from.is_empty() {
        return Ok(db.tables.values().collect());
    }
    let mut out: Vec<&Table> = Vec::new();
    for source in from {
        let Source::Measurement(m) = source else {
            return Err(InfluxqlError::Unsupported("a subquery in a SHOW statement".into()));
        };
        match &m.name {
            MeasurementName::Name(n) => out.extend(db.tables.get(n)),
            MeasurementName::Regex(r) => {
                let re = regex(r)?;
                out.extend(db.tables.values().filter(|t| re.is_match(&t.name)));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

fn key_matches(key: &TagKeyMatch, name: &str) -> Result<bool> {
    Ok(match key {
        TagKeyMatch::Eq(k) => k == name,
        TagKeyMatch::NotEq(k) => k != name,
        TagKeyMatch::Regex(r) => regex(r)?.is_match(name),
        TagKeyMatch::NotRegex(r) => !regex(r)?.is_match(name),
        TagKeyMatch::In(keys) => keys.iter().any(|k| k == name),
    })
}

fn filter_expr(
    table: &Table,
    filter: Option<&sediment_sql::influxql::ast::Expr>,
    cx: &Context<'_>,
) -> Result<Option<DfExpr>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    Ok(Some(cx.with_scope(|name| table.column(name).map(|c| c.kind), |scope| condition(filter, scope))?))
}

async fn has_rows(
    session: &LazySession<'_>,
    table: &Table,
    filter: Option<&sediment_sql::influxql::ast::Expr>,
    cx: &Context<'_>,
) -> Result<bool> {
    let Some(filter) = filter_expr(table, filter, cx)? else {
        return Ok(true);
    };
    let batches = session.get().await?.table(&table.name).await?.filter(filter)?.limit(0, Some(1))?.collect().await?;
    Ok(batches.iter().any(|b| b.num_rows() > 0))
}

/// The distinct non-all-null combinations of `tags` in `table`, sorted.
async fn distinct(
    session: &LazySession<'_>,
    table: &Table,
    tags: &[String],
    filter: Option<&sediment_sql::influxql::ast::Expr>,
    cx: &Context<'_>,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut frame = session.get().await?.table(&table.name).await?;
    if let Some(filter) = filter_expr(table, filter, cx)? {
        frame = frame.filter(filter)?;
    }
    let columns: Vec<DfExpr> = tags.iter().map(|t| column(t)).collect();
    let any_present = columns
        .iter()
        .cloned()
        .map(DfExpr::is_not_null)
        .reduce(DfExpr::or)
        .unwrap_or_else(|| datafusion::prelude::lit(true));
    let batches = frame.filter(any_present)?.select(columns)?.distinct()?.collect().await?;
    let mut rows = Vec::new();
    for batch in &batches {
        let strings: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| InfluxqlError::from(datafusion::error::DataFusionError::from(e)))?;
        for row in 0..batch.num_rows() {
            rows.push(
                strings
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        (!c.is_null(row)).then(|| c.value(row).to_owned())
                    })
                    .collect(),
            );
        }
    }
    rows.sort();
    Ok(rows)
}

/// `cpu,host=a,region=eu`, escaped as line protocol escapes series keys.
fn series_key(measurement: &str, tags: &[String], values: &[Option<String>]) -> String {
    let escape = |s: &str, extra: &[char]| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if c == ',' || c == ' ' || extra.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let mut key = escape(measurement, &[]);
    for (tag, value) in tags.iter().zip(values) {
        if let Some(value) = value {
            key.push(',');
            key.push_str(&escape(tag, &['=']));
            key.push('=');
            key.push_str(&escape(value, &['=']));
        }
    }
    key
}

/// Go's `time.Duration` text, which 1.x prints: `0s`, `168h0m0s`, `1h30m0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let secs = nanos / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keys_escape_like_line_protocol() {
        let tags = ["host".to_owned(), "tag key".to_owned()];
        let key = series_key("weird m,x", &tags, &[Some("a=b".into()), Some("c d".into())]);
        assert_eq!(key, "weird\\ m\\,x,host=a\\=b,tag\\ key=c\\ d");
        assert_eq!(series_key("cpu", &tags, &[Some("a".into()), None]), "cpu,host=a");
        assert_eq!(series_measurement(&key), "weird m,x");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(168 * 3_600_000_000_000), "168h0m0s");
        assert_eq!(go_duration(90 * 60_000_000_000), "1h30m0s");
        assert_eq!(go_duration(5_000_000_000), "5s");
    }
}
