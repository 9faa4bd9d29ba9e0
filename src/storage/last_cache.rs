//! The newest point of every series of a table, kept in memory so that
//! "the current value of each series" (TSBS's lastpoint, Grafana's
//! current-value panels) is answered without reading history.
//!
//! ```text
//! first newest-point query ─begin()─▶ warming ─finish(scan of the table)─▶ ready ─▶ batch()
//!                                        ▲                                  ▲
//! every durable write ────apply()────────┴──────────────────────────────────┘
//! ```
//!
//! A table gets a cache on the first query that wants it, not at startup: the
//! warming scan reads the whole table once. Writes reach the cache from the
//! WAL's commit loop in the same call that applies them to the buffer, so a
//! ready cache holds every acknowledged point. Writes applied while a warming
//! scan runs are kept and win over the scan's rows (they are at least as new),
//! field by field on the same timestamp, as everywhere else.
//!
//! DROP and DELETE forget a table's cache (the next query warms it again).
//! The cache is bounded in bytes over all tables: a table that would pass the
//! bound is given up on until the server restarts, and its queries scan.
//! Does no I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, TimestampNanosecondType, UInt64Type};
use arrow::error::ArrowError;
use sediment_catalog::{ColumnKind, FieldType, TIME_COLUMN};

use crate::ingest::lp::{FieldValue, Point, SmolStr};
use crate::storage::buffer::ColumnBuilder;

/// (database, table)
type TableKey = (String, String);

/// Rough bytes of a row beyond its strings and values: map entry, vectors, key.
const ROW_OVERHEAD: usize = 96;

#[derive(Debug)]
pub struct LastCache {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tables: HashMap<TableKey, TableLast>,
    bytes: usize,
    next_epoch: u64,
}

/// What a newest-point query finds for a table.
#[derive(Debug)]
pub enum Lookup {
    /// The newest row of every series, in the asked schema.
    Ready(RecordBatch),
    /// No cache yet: warm it with the epoch from [`LastCache::begin`].
    Cold,
    /// Too big to cache: scan.
    GivenUp,
}

#[derive(Debug)]
struct TableLast {
    /// Changes when the table's cache is forgotten, so a warming scan that
    /// started before a DELETE cannot bring deleted rows back.
    epoch: u64,
    ready: bool,
    given_up: bool,
    series: HashMap<String, Row>,
    bytes: usize,
    /// The batch last built, until the next change.
    built: Option<RecordBatch>,
}

#[derive(Debug, Clone)]
struct Row {
    /// Sorted by key.
    tags: Vec<(SmolStr, SmolStr)>,
    time: i64,
    fields: Vec<(SmolStr, FieldValue)>,
}

impl Row {
    fn bytes(&self) -> usize {
        let tags: usize = self.tags.iter().map(|(k, v)| k.len() + v.len()).sum();
        let fields: usize = self
            .fields
            .iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        FieldValue::String(s) => s.len() + 24,
                        _ => 16,
                    }
            })
            .sum();
        ROW_OVERHEAD + 2 * tags + fields
    }

    /// Folds in a write of the same series: a newer time replaces the row, the
    /// same time replaces the fields it carries.
    fn merge(&mut self, time: i64, fields: &[(SmolStr, FieldValue)]) -> bool {
        if time > self.time {
            self.time = time;
            // A series' points mostly carry the same fields in the same order:
            // then only the values change, and no name is copied.
            let same_names = self.fields.len() == fields.len()
                && self.fields.iter().zip(fields).all(|((old, _), (new, _))| old == new);
            if same_names {
                for (slot, (_, value)) in self.fields.iter_mut().zip(fields) {
                    slot.1 = value.clone();
                }
            } else {
                self.fields = fields.to_vec();
            }
            true
        } else if time == self.time {
            for (name, value) in fields {
                match self.fields.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => self.fields.push((name.clone(), value.clone())),
                }
            }
            true
        } else {
            false
        }
    }
}

/// The tags, sorted by key, each string after its length (`3:cpu`), written
/// into `key`: no tag value can make two tag sets spell the same key.
fn series_key<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>, key: &mut String) {
    use std::fmt::Write;
    key.clear();
    for (k, v) in tags {
        let _ = write!(key, "{}:{k}{}:{v}", k.len(), v.len());
    }
}

impl Default for LastCache {
    fn default() -> Self {
        Self::new(64 * 1024 * 1024)
    }
}

impl LastCache {
    /// A cache of at most `limit` bytes over all tables; 0 turns it off.
    pub fn new(limit: usize) -> Self {
        Self { limit, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds durable points of `db` into the caches of their tables.
    pub fn apply(&self, db: &str, points: &[Point]) {
        let mut state = self.lock();
        if state.tables.is_empty() {
            return;
        }
        let state = &mut *state;
        let mut key = String::new();
        let mut sorted: Vec<(&str, &str)> = Vec::new();
        let mut rest = points;
        while let Some(first) = rest.first() {
            let run = rest.iter().position(|p| p.measurement() != first.measurement()).unwrap_or(rest.len());
            let (points, tail) = rest.split_at(run);
            rest = tail;
            let Some(table) = state.tables.get_mut(&(db.to_owned(), first.measurement().to_owned())) else {
                continue;
            };
            if table.given_up {
                continue;
            }
            let before = table.bytes;
            for point in points {
                sorted.clear();
                sorted.extend(point.tags());
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                series_key(sorted.iter().copied(), &mut key);
                table.upsert(&key, || Row {
                    tags: sorted.iter().map(|&(k, v)| (SmolStr::new(k), SmolStr::new(v))).collect(),
                    time: point.time,
                    fields: point.fields().map(|(k, v)| (SmolStr::new(k), v.clone())).collect(),
                });
            }
            state.bytes = state.bytes + table.bytes - before;
            if state.bytes > self.limit {
                state.bytes -= table.give_up();
                tracing::info!(
                    db,
                    table = first.measurement(),
                    limit = self.limit,
                    "newest-point cache given up for this table: over its size limit"
                );
            }
        }
    }

    /// The table's newest rows in `schema` (its columns, any order), or why not.
    ///
    /// # Errors
    /// A column of `schema` has a type the table's values cannot fill.
    pub fn lookup(&self, db: &str, table: &str, schema: &SchemaRef) -> Result<Lookup, ArrowError> {
        if self.limit == 0 {
            return Ok(Lookup::GivenUp);
        }
        let mut state = self.lock();
        let Some(cached) = state.tables.get_mut(&(db.to_owned(), table.to_owned())) else {
            return Ok(Lookup::Cold);
        };
        if cached.given_up {
            return Ok(Lookup::GivenUp);
        }
        if !cached.ready {
            return Ok(Lookup::Cold);
        }
        if let Some(batch) = cached.built.as_ref().filter(|b| b.schema() == *schema) {
            return Ok(Lookup::Ready(batch.clone()));
        }
        let batch = build(cached.series.values(), schema)?;
        cached.built = Some(batch.clone());
        Ok(Lookup::Ready(batch))
    }

    /// Starts keeping the table's writes before a warming scan takes its
    /// snapshot; answers the epoch to hand to [`LastCache::finish`].
    pub fn begin(&self, db: &str, table: &str) -> u64 {
        let mut state = self.lock();
        let epoch = state.next_epoch;
        state.next_epoch += 1;
        state
            .tables
            .entry((db.to_owned(), table.to_owned()))
            .or_insert_with(|| TableLast {
                epoch,
                ready: false,
                given_up: false,
                series: HashMap::new(),
                bytes: 0,
                built: None,
            })
            .epoch
    }

    /// Folds the warming scan's rows (the newest row of every series; `tags`
    /// names its tag columns) in and marks the cache ready, unless the table
    /// was forgotten since [`LastCache::begin`].
    ///
    /// # Errors
    /// A column of the scan has a type the cache does not know.
    pub fn finish(
        &self,
        db: &str,
        table: &str,
        epoch: u64,
        tags: &[String],
        batches: &[RecordBatch],
    ) -> Result<(), ArrowError> {
        let mut scanned = Vec::new();
        for batch in batches {
            scanned.extend(rows(batch, tags)?);
        }
        let mut state = self.lock();
        let state = &mut *state;
        let Some(cached) = state.tables.get_mut(&(db.to_owned(), table.to_owned())) else {
            return Ok(());
        };
        if cached.epoch != epoch || cached.given_up || cached.ready {
            return Ok(());
        }
        let before = cached.bytes;
        let mut key = String::new();
        for row in scanned {
            series_key(row.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), &mut key);
            match cached.series.get_mut(&key) {
                // Kept writes are at least as new as the scan: they win ties.
                Some(kept) if row.time == kept.time => {
                    let mut merged = row;
                    merged.merge(kept.time, &kept.fields);
                    cached.bytes = cached.bytes + merged.bytes() - kept.bytes();
                    *kept = merged;
                }
                Some(kept) if row.time > kept.time => {
                    cached.bytes = cached.bytes + row.bytes() - kept.bytes();
                    *kept = row;
                }
                Some(_) => {}
                None => {
                    cached.bytes += row.bytes();
                    cached.series.insert(key.clone(), row);
                }
            }
        }
        cached.ready = true;
        cached.built = None;
        state.bytes = state.bytes + cached.bytes - before;
        if state.bytes > self.limit {
            state.bytes -= cached.give_up();
            tracing::info!(
                db,
                table,
                limit = self.limit,
                "newest-point cache given up for this table: over its size limit"
            );
        }
        Ok(())
    }

    /// Forgets `db`'s caches (only `table`'s when given) after DROP or DELETE.
    pub fn forget(&self, db: &str, table: Option<&str>) {
        let mut state = self.lock();
        let mut freed = 0;
        state.tables.retain(|(d, t), cached| {
            let doomed = d == db && table.is_none_or(|x| x == t);
            if doomed {
                freed += cached.bytes;
            }
            !doomed
        });
        state.bytes -= freed.min(state.bytes);
    }
}

impl TableLast {
    fn upsert(&mut self, key: &str, row: impl FnOnce() -> Row) {
        match self.series.get_mut(key) {
            Some(existing) => {
                let new = row();
                let before = existing.bytes();
                if existing.merge(new.time, &new.fields) {
                    self.bytes = self.bytes + existing.bytes() - before;
                    self.built = None;
                }
            }
            None => {
                let row = row();
                self.bytes += row.bytes();
                self.series.insert(key.to_owned(), row);
                self.built = None;
            }
        }
    }

    /// Drops the rows and stops caching; answers the bytes freed.
    fn give_up(&mut self) -> usize {
        self.given_up = true;
        self.series = HashMap::new();
        self.built = None;
        std::mem::take(&mut self.bytes)
    }
}

/// The rows of a warming scan's batch; `tags` names its tag columns.
fn rows(batch: &RecordBatch, tags: &[String]) -> Result<Vec<Row>, ArrowError> {
    let schema = batch.schema();
    let time_index = schema.index_of(TIME_COLUMN)?;
    let times = batch.column(time_index).as_primitive_opt::<TimestampNanosecondType>().ok_or_else(|| {
        ArrowError::SchemaError("the newest-point scan's time column is not a nanosecond timestamp".into())
    })?;
    let tag_columns: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| i != time_index && tags.iter().any(|t| t == schema.field(i).name()))
        .collect();
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut tags = Vec::new();
        let mut fields = Vec::new();
        for (i, column) in batch.columns().iter().enumerate() {
            if i == time_index || column.is_null(row) {
                continue;
            }
            let name = SmolStr::new(schema.field(i).name());
            if tag_columns.contains(&i) {
                tags.push((name, SmolStr::new(column.as_string::<i32>().value(row))));
            } else if let Some(value) = field_value(column, row) {
                fields.push((name, value));
            }
        }
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        out.push(Row { tags, time: times.value(row), fields });
    }
    Ok(out)
}

fn field_value(column: &ArrayRef, row: usize) -> Option<FieldValue> {
    Some(match column.data_type() {
        DataType::Float64 => FieldValue::Float(column.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => FieldValue::Integer(column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => FieldValue::UInteger(column.as_primitive::<UInt64Type>().value(row)),
        DataType::Utf8 => FieldValue::String(column.as_string::<i32>().value(row).to_owned()),
        DataType::Boolean => FieldValue::Boolean(column.as_boolean().value(row)),
        _ => return None,
    })
}

/// One row per series in `schema`; a column a row lacks is null.
fn build<'a>(rows: impl Iterator<Item = &'a Row> + Clone, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        if name == TIME_COLUMN {
            columns.push(Arc::new(TimestampNanosecondArray::from_iter_values(rows.clone().map(|r| r.time))));
            continue;
        }
        let kind = match field.data_type() {
            DataType::Utf8 => FieldType::String,
            DataType::Float64 => FieldType::Float,
            DataType::Int64 => FieldType::Integer,
            DataType::UInt64 => FieldType::UInteger,
            DataType::Boolean => FieldType::Boolean,
            other => {
                return Err(ArrowError::SchemaError(format!(
                    "column {name} of type {other} is not a sediment column type"
                )));
            }
        };
        let mut builder = ColumnBuilder::new(ColumnKind::Field(kind), 0);
        for row in rows.clone() {
            match (row.tags.iter().find(|(k, _)| k == name), row.fields.iter().find(|(k, _)| k == name)) {
                (Some((_, tag)), _) => builder.append_str(tag),
                (None, Some((_, value))) => builder.append_field(value),
                (None, None) => builder.append_null(),
            }
        }
        columns.push(builder.finish_cloned());
    }
    RecordBatch::try_new(Arc::clone(schema), columns)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;
    use crate::ingest::lp::{Precision, parse_body};

    fn points(body: &str) -> Vec<Point> {
        let (points, rejected) = parse_body(body, Precision::Nanosecond, 0);
        assert!(rejected.is_empty());
        points.into_iter().map(|p| p.point).collect()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, true),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Float64, true),
            Field::new(TIME_COLUMN, DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        ]))
    }

    /// What a warming scan answers: one row per host.
    fn scanned(rows: &[(&str, Option<f64>, Option<f64>, i64)]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(TimestampNanosecondArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(schema(), columns).expect("batch")
    }

    fn ready(cache: &LastCache) -> String {
        match cache.lookup("db", "cpu", &schema()).expect("lookup") {
            Lookup::Ready(batch) => {
                let sorted = arrow::compute::sort_to_indices(batch.column(0), None, None).expect("sort");
                let columns = batch.columns().iter().map(|c| arrow::compute::take(c, &sorted, None).expect("take"));
                let batch = RecordBatch::try_new(schema(), columns.collect()).expect("batch");
                arrow::util::pretty::pretty_format_batches(&[batch]).expect("format").to_string()
            }
            other => panic!("not ready: {other:?}"),
        }
    }

    const TAGS: &[&str] = &["host"];

    fn tags() -> Vec<String> {
        TAGS.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn writes_during_warming_win_over_the_scan_field_by_field() {
        let cache = LastCache::default();
        cache.apply("db", &points("cpu,host=x a=1 1"));
        assert!(matches!(cache.lookup("db", "cpu", &schema()).expect("lookup"), Lookup::Cold));
        let epoch = cache.begin("db", "cpu");
        // x: a newer point with one field; y: the same time as the scan's row; z: older than the scan's.
        cache.apply("db", &points("cpu,host=x a=5 20\ncpu,host=y a=7 10\ncpu,host=z a=0 1\ncpu,host=z b=9 1"));
        let scan =
            scanned(&[("x", Some(1.0), Some(2.0), 10), ("y", Some(1.0), Some(2.0), 10), ("z", Some(3.0), None, 5)]);
        cache.finish("db", "cpu", epoch, &tags(), &[scan]).expect("finish");
        let got = ready(&cache);
        assert!(got.contains("| x    | 5.0 |     | 1970-01-01T00:00:00.000000020 |"), "{got}");
        assert!(got.contains("| y    | 7.0 | 2.0 | 1970-01-01T00:00:00.000000010 |"), "{got}");
        assert!(got.contains("| z    | 3.0 |     | 1970-01-01T00:00:00.000000005 |"), "{got}");
        // Once ready, writes keep it current; tag order does not matter.
        cache.apply("db", &points("cpu,host=z b=4 5\ncpu,host=w a=1 3"));
        let got = ready(&cache);
        assert!(got.contains("| z    | 3.0 | 4.0 | 1970-01-01T00:00:00.000000005 |"), "{got}");
        assert!(got.contains("| w    | 1.0 |     | 1970-01-01T00:00:00.000000003 |"), "{got}");
    }

    #[test]
    fn a_scan_from_before_a_forget_is_refused() {
        let cache = LastCache::default();
        let epoch = cache.begin("db", "cpu");
        cache.forget("db", Some("cpu"));
        cache.finish("db", "cpu", epoch, &tags(), &[scanned(&[("x", Some(1.0), None, 1)])]).expect("finish");
        assert!(matches!(cache.lookup("db", "cpu", &schema()).expect("lookup"), Lookup::Cold));
        let stale = cache.begin("db", "cpu");
        cache.forget("db", None);
        let fresh = cache.begin("db", "cpu");
        assert_ne!(stale, fresh);
        cache.finish("db", "cpu", stale, &tags(), &[scanned(&[("x", Some(1.0), None, 1)])]).expect("finish");
        assert!(matches!(cache.lookup("db", "cpu", &schema()).expect("lookup"), Lookup::Cold));
    }

    #[test]
    fn a_table_over_the_limit_is_given_up_and_its_bytes_freed() {
        let cache = LastCache::new(4 * ROW_OVERHEAD);
        let epoch = cache.begin("db", "cpu");
        cache.finish("db", "cpu", epoch, &tags(), &[scanned(&[("x", Some(1.0), None, 1)])]).expect("finish");
        ready(&cache);
        let many: String = (0..10).map(|i| format!("cpu,host=h{i} a=1 2\n")).collect();
        cache.apply("db", &points(&many));
        assert!(matches!(cache.lookup("db", "cpu", &schema()).expect("lookup"), Lookup::GivenUp));
        assert_eq!(cache.lock().bytes, 0);
        assert!(matches!(LastCache::new(0).lookup("db", "cpu", &schema()).expect("lookup"), Lookup::GivenUp));
    }
}
