//! Evaluates a compiled SELECT over the rows of one series, in time order:
//! raw rows, or buckets (GROUP BY time windows, or one bucket for the whole
//! range) reduced by the calls, then `fill()`, then transforms over the
//! sequence of values.
//!
//! ```text
//!   rows ──► buckets ──► calls per bucket ──► fill per column ──► transforms ──► rows
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use sediment_sql::influxql::ast::Fill;

use super::super::functions::{self, Aggregate, Point, Selected, Value};
use super::super::{InfluxqlError, Result};
use super::compile::{Compiled, Node, literal_value};

/// The rows of one series as scanned: times ascending, values per scanned column.
#[derive(Debug, Default)]
pub(super) struct Group {
    pub times: Vec<i64>,
    pub columns: Vec<Vec<Option<Value>>>,
}

/// One output row: its time and a value per output column.
pub(super) type Row = (i64, Vec<Option<Value>>);

/// GROUP BY time(interval, offset), aligned in `tz` when there is one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub interval: i64,
    pub offset: i64,
    pub tz: Option<chrono_tz::Tz>,
}

impl Window {
    /// The start of the window holding `t`.
    pub(super) fn start(&self, t: i64) -> i64 {
        // Saturating: a point or bound may sit at the ends of i64.
        let align = |t: i64| {
            t.saturating_sub(self.offset)
                .div_euclid(self.interval)
                .saturating_mul(self.interval)
                .saturating_add(self.offset)
        };
        let Some(tz) = self.tz else { return align(t) };
        // Align on the wall clock of the zone, then go back to UTC with the
        // offset in force at the window's start (which DST may change).
        let local = t.saturating_add(zone_offset(tz, t));
        let start = align(local);
        let guess = start.saturating_sub(zone_offset(tz, start));
        start.saturating_sub(zone_offset(tz, guess))
    }

    fn next(&self, start: i64) -> i64 {
        match self.tz {
            None => start.saturating_add(self.interval),
            // Days are 23 or 25 hours long across DST: land inside the next window.
            Some(_) => self.start(start.saturating_add(self.interval.saturating_add(self.interval / 2))),
        }
    }
}

fn zone_offset(tz: chrono_tz::Tz, nanos: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    let utc = chrono::DateTime::from_timestamp_nanos(nanos).naive_utc();
    i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()) * 1_000_000_000
}

/// More buckets than this in one series is a query to refuse, not to run.
const MAX_BUCKETS: usize = 1_000_000;

/// How a SELECT's rows are computed for each series.
#[derive(Debug)]
pub(super) struct Evaluator<'a> {
    pub compiled: &'a Compiled,
    pub window: Option<Window>,
    /// Inclusive time bounds from WHERE (the upper one is now() under GROUP BY time when open).
    pub bounds: (Option<i64>, Option<i64>),
    pub fill: &'a Fill,
    /// ORDER BY time DESC: transforms see the values newest first, as in 1.x.
    pub descending: bool,
    /// The most rows a series can show (OFFSET + LIMIT) when producing more
    /// buckets cannot change them: no transform, no fill(linear), ascending.
    pub max_rows: Option<usize>,
    /// The scan already reduced each bucket: a group holds one row per bucket
    /// with data, at the bucket's start, a column per call with its result.
    pub preaggregated: bool,
}

impl Evaluator<'_> {
    /// The output rows of one series.
    ///
    /// # Errors
    /// A function refuses its input (e.g. `mean` of strings), too many buckets.
    pub(super) fn rows(&self, group: &Group) -> Result<Vec<Row>> {
        let rows = if self.compiled.is_aggregate() { self.aggregate(group)? } else { self.raw(group)? };
        self.transform(rows)
    }

    fn raw(&self, group: &Group) -> Result<Vec<Row>> {
        let columns = &self.compiled.columns;
        let mut rows = Vec::new();
        for (r, &time) in group.times.iter().enumerate() {
            let values: Vec<Option<Value>> =
                columns.iter().map(|c| row_value(&c.node, group, r)).collect::<Result<_>>()?;
            if columns.iter().zip(&values).any(|(c, v)| c.reads_field && v.is_some()) {
                rows.push((time, values));
            }
        }
        Ok(rows)
    }

    /// The buckets of a series: (time, rows), in time order.
    fn buckets(&self, group: &Group) -> Result<Vec<(i64, Range<usize>)>> {
        let Some(window) = self.window else {
            return Ok(vec![(self.bounds.0.unwrap_or(0), 0..group.times.len())]);
        };
        let mut with_data: Vec<(i64, Range<usize>)> = Vec::new();
        for (r, &t) in group.times.iter().enumerate() {
            let start = window.start(t);
            match with_data.last_mut() {
                Some((s, range)) if *s == start => range.end = r + 1,
                _ => with_data.push((start, r..r + 1)),
            }
        }
        if matches!(self.fill, Fill::None) {
            return Ok(with_data);
        }
        let (Some(&first), Some(&last)) = (group.times.first(), group.times.last()) else { return Ok(Vec::new()) };
        let mut start = window.start(self.bounds.0.unwrap_or(first));
        let end = window.start(self.bounds.1.unwrap_or(last));
        let mut data = with_data.into_iter().peekable();
        let mut out = Vec::new();
        // Every bucket makes at least one row unless it is empty and skipped (point times).
        let wanted = self.max_rows.filter(|_| {
            !self.descending
                && !matches!(self.fill, Fill::Linear)
                && !self.compiled.point_time(true)
                && !self.compiled.columns.iter().any(|c| matches!(c.node, Node::Transform(..)))
        });
        while start <= end {
            if wanted.is_some_and(|n| out.len() >= n) {
                break;
            }
            if out.len() >= MAX_BUCKETS {
                return Err(InfluxqlError::Invalid(format!(
                    "more than {MAX_BUCKETS} GROUP BY time() buckets in one series: narrow the time range or widen the interval"
                )));
            }
            let range = match data.peek() {
                Some((s, _)) if *s == start => data.next().map_or(0..0, |(_, r)| r),
                _ => 0..0,
            };
            out.push((start, range));
            start = window.next(start);
        }
        Ok(out)
    }

    fn aggregate(&self, group: &Group) -> Result<Vec<Row>> {
        let compiled = self.compiled;
        let point_time = compiled.point_time(self.window.is_some());
        let mut rows: Vec<Row> = Vec::new();
        // Per row and column: no call under it had a point (what fill() replaces).
        let mut missing: Vec<Vec<bool>> = Vec::new();
        let integrals = self.integrals(group)?;
        for (bucket_time, range) in self.buckets(group)? {
            let outputs: Vec<Option<Vec<Selected>>> = compiled
                .calls
                .iter()
                .zip(&integrals)
                .map(|(call, integral)| match integral {
                    Some(areas) => Ok(areas.get(&bucket_time).map(|area| {
                        let value = area.is_finite().then_some(Value::Float(*area));
                        vec![Selected { time: None, value, row: None }]
                    })),
                    None if self.preaggregated => Ok(preaggregated_output(call, group, range.clone())),
                    None => call_output(call, group, range.clone()),
                })
                .collect::<Result<_>>()?;
            if outputs.iter().all(Option::is_none) && (matches!(self.fill, Fill::None) || point_time) {
                continue;
            }
            let n = outputs.iter().flatten().map(Vec::len).max().unwrap_or(1).max(1);
            for j in 0..n {
                let time = match (point_time, outputs.first()) {
                    (true, Some(Some(out))) => out.get(j).and_then(|s| s.time).unwrap_or(bucket_time),
                    _ => bucket_time,
                };
                let cx = BucketRow { outputs: &outputs, j, group };
                let (values, flags): (Vec<_>, Vec<_>) =
                    compiled.columns.iter().map(|c| cx.value(&c.node)).collect::<Result<Vec<_>>>()?.into_iter().unzip();
                rows.push((time, values));
                missing.push(flags);
            }
        }
        if self.window.is_some() {
            for c in 0..compiled.columns.len() {
                self.fill_column(&mut rows, &missing, c);
            }
        }
        Ok(rows)
    }

    /// Per call, under GROUP BY time, the areas of an `integral` by window
    /// start: 1.x computes them over the whole series, interpolating at the
    /// window edges.
    fn integrals(&self, group: &Group) -> Result<Vec<Option<BTreeMap<i64, f64>>>> {
        let invalid = |e: functions::FunctionError| InfluxqlError::Invalid(e.to_string());
        self.compiled
            .calls
            .iter()
            .map(|call| match (&call.aggregate, self.window) {
                (Aggregate::Integral { unit }, Some(window)) => {
                    let points = points(group, call.input, 0..group.times.len());
                    let window_of = |t: i64| {
                        let start = window.start(t);
                        (start, window.next(start))
                    };
                    let areas = functions::integral_windows(&points, *unit, &window_of).map_err(invalid)?;
                    Ok(Some(areas.into_iter().collect()))
                }
                _ => Ok(None),
            })
            .collect()
    }

    fn fill_column(&self, rows: &mut [Row], missing: &[Vec<bool>], c: usize) {
        let is_count = match &self.compiled.columns[c].node {
            Node::Call(i) => {
                let call = &self.compiled.calls[*i];
                call.count_distinct || call.aggregate == Aggregate::Count
            }
            _ => false,
        };
        let known: Vec<usize> = (0..rows.len()).filter(|&r| !missing[r][c]).collect();
        let mut next_known = 0;
        for r in 0..rows.len() {
            while next_known < known.len() && known[next_known] < r {
                next_known += 1;
            }
            if !missing[r][c] {
                continue;
            }
            rows[r].1[c] = match self.fill {
                Fill::None => None,
                // 1.x: an empty bucket counts zero points.
                Fill::Null => is_count.then_some(Value::Integer(0)),
                Fill::Value(l) => Some(literal_value(l)),
                Fill::Previous => r.checked_sub(1).and_then(|p| rows[p].1[c].clone()),
                Fill::Linear => {
                    let before = next_known.checked_sub(1).map(|k| known[k]);
                    let after = known.get(next_known).copied();
                    match (before, after) {
                        (Some(a), Some(b)) => interpolate(&rows[a], &rows[b], rows[r].0, c),
                        _ => None,
                    }
                }
            };
        }
    }

    /// Runs the transform columns over their input values; alone, their
    /// outputs are the rows, beside other columns they join those rows by time.
    fn transform(&self, mut rows: Vec<Row>) -> Result<Vec<Row>> {
        let columns = &self.compiled.columns;
        let mut outputs: Vec<(usize, BTreeMap<i64, Value>)> = Vec::new();
        for (c, column) in columns.iter().enumerate() {
            let Node::Transform(transform, _) = &column.node else { continue };
            let mut input: Vec<(i64, Value)> = rows.iter().filter_map(|(t, v)| v[c].clone().map(|v| (*t, v))).collect();
            if self.descending {
                input.reverse();
            }
            let out = functions::transform(transform, &input).map_err(|e| InfluxqlError::Invalid(e.to_string()))?;
            outputs.push((c, out.into_iter().collect()));
        }
        if outputs.is_empty() {
            return Ok(rows);
        }
        if outputs.len() == columns.len() {
            let mut by_time: BTreeMap<i64, Vec<Option<Value>>> = BTreeMap::new();
            for (c, out) in &outputs {
                for (t, v) in out {
                    by_time.entry(*t).or_insert_with(|| vec![None; columns.len()])[*c] = Some(v.clone());
                }
            }
            return Ok(by_time.into_iter().collect());
        }
        for (time, values) in &mut rows {
            for (c, out) in &outputs {
                values[*c] = out.get(time).cloned();
            }
        }
        Ok(rows)
    }
}

/// Linear interpolation of column `c` at `time` between rows `a` and `b`.
fn interpolate(a: &Row, b: &Row, time: i64, c: usize) -> Option<Value> {
    let (ta, tb) = (a.0 as f64, b.0 as f64);
    let frac = (time as f64 - ta) / (tb - ta);
    match (a.1[c].as_ref()?, b.1[c].as_ref()?) {
        (Value::Integer(x), Value::Integer(y)) => Some(Value::Integer(x + ((y - x) as f64 * frac) as i64)),
        (x, y) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            Some(Value::Float(x + (y - x) * frac))
        }
    }
}

/// The points of column `c` in rows `range` that have a value.
fn points(group: &Group, c: usize, range: Range<usize>) -> Vec<Point> {
    let column = &group.columns[c];
    range.filter_map(|r| column[r].clone().map(|value| Point { time: group.times[r], value, row: r })).collect()
}

/// A call's result the scan computed: the bucket's one row.
fn preaggregated_output(call: &super::compile::Call, group: &Group, range: Range<usize>) -> Option<Vec<Selected>> {
    let value = group.columns[call.input][range].first().cloned().flatten()?;
    // DataFusion counts 0 where 1.x sees no point at all.
    if call.aggregate == Aggregate::Count && value == Value::Integer(0) {
        return None;
    }
    Some(vec![Selected { time: None, value: Some(value), row: None }])
}

/// The outputs of one call over a bucket's rows; `None` when no row has the field.
fn call_output(call: &super::compile::Call, group: &Group, range: Range<usize>) -> Result<Option<Vec<Selected>>> {
    let points = points(group, call.input, range);
    if points.is_empty() {
        return Ok(None);
    }
    let invalid = |e: functions::FunctionError| InfluxqlError::Invalid(e.to_string());
    let out = match &call.aggregate {
        Aggregate::Top(n) | Aggregate::Bottom(n) if !call.tags.is_empty() => {
            let key = |row: usize| {
                call.tags
                    .iter()
                    .map(|&t| match &group.columns[t][row] {
                        Some(Value::String(s)) => s.clone(),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join("\u{0}")
            };
            functions::top_bottom(&points, *n, matches!(call.aggregate, Aggregate::Bottom(_)), Some(&key))
                .map_err(invalid)?
        }
        aggregate => {
            let out = functions::aggregate(aggregate, &points).map_err(invalid)?;
            if call.count_distinct {
                let n = i64::try_from(out.len()).unwrap_or(i64::MAX);
                vec![Selected { time: None, value: Some(Value::Integer(n)), row: None }]
            } else {
                out
            }
        }
    };
    Ok(Some(out))
}

/// The j-th output row of a bucket.
struct BucketRow<'a> {
    outputs: &'a [Option<Vec<Selected>>],
    j: usize,
    group: &'a Group,
}

impl BucketRow<'_> {
    /// A column's value and whether it is missing (its calls had no points).
    fn value(&self, node: &Node) -> Result<(Option<Value>, bool)> {
        Ok(match node {
            Node::Call(i) => match &self.outputs[*i] {
                None => (None, true),
                Some(out) => (out.get(self.j).and_then(|s| s.value.clone()), false),
            },
            Node::Aux(c) => {
                let row = self.outputs.first().and_then(|o| o.as_ref()).and_then(|o| o.get(self.j)).and_then(|s| s.row);
                match row {
                    Some(r) => (self.group.columns[*c][r].clone(), false),
                    None => (None, true),
                }
            }
            Node::Var(_) | Node::Null => (None, false),
            Node::Literal(v) => (Some(v.clone()), false),
            Node::Binary(op, l, r) => {
                let ((l, lm), (r, rm)) = (self.value(l)?, self.value(r)?);
                (functions::binary(*op, l.as_ref(), r.as_ref()), lm || rm)
            }
            Node::Math(name, args) => {
                let mut values = Vec::with_capacity(args.len());
                let mut missing = false;
                for arg in args {
                    let (v, m) = self.value(arg)?;
                    values.push(v);
                    missing |= m;
                }
                (functions::math(name, &values).map_err(|e| InfluxqlError::Invalid(e.to_string()))?, missing)
            }
            Node::Transform(_, inner) => self.value(inner)?,
        })
    }
}

/// A raw column's value at row `r`.
fn row_value(node: &Node, group: &Group, r: usize) -> Result<Option<Value>> {
    Ok(match node {
        Node::Var(c) | Node::Aux(c) => group.columns[*c][r].clone(),
        Node::Null | Node::Call(_) => None,
        Node::Literal(v) => Some(v.clone()),
        Node::Binary(op, left, right) => {
            functions::binary(*op, row_value(left, group, r)?.as_ref(), row_value(right, group, r)?.as_ref())
        }
        Node::Math(name, args) => {
            let values: Vec<Option<Value>> = args.iter().map(|a| row_value(a, group, r)).collect::<Result<_>>()?;
            functions::math(name, &values).map_err(|e| InfluxqlError::Invalid(e.to_string()))?
        }
        Node::Transform(_, inner) => row_value(inner, group, r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn windows_align_to_the_epoch_plus_offset() {
        let w = Window { interval: 10, offset: 3, tz: None };
        assert_eq!(w.start(25), 23);
        assert_eq!(w.start(22), 13);
        assert_eq!(w.start(-1), -7);
        assert_eq!(w.next(23), 33);
    }

    #[test]
    fn windows_at_the_ends_of_time_do_not_overflow() {
        let w = Window { interval: 7 * 24 * HOUR, offset: HOUR, tz: Some(chrono_tz::Tz::Europe__Paris) };
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let start = w.start(t);
            let _ = w.next(start);
        }
        let plain = Window { interval: i64::MAX, offset: 0, tz: None };
        assert_eq!(plain.next(plain.start(i64::MAX)), i64::MAX);
    }

    #[test]
    fn day_windows_in_a_zone_follow_its_midnights_across_dst() {
        // Paris moved to summer time on 2024-03-31: that day is 23 hours long.
        let w = Window { interval: 24 * HOUR, offset: 0, tz: Some(chrono_tz::Tz::Europe__Paris) };
        let noon_utc_march_31 = 1_711_886_400_000_000_000;
        let midnight_paris = 1_711_839_600_000_000_000; // 2024-03-30T23:00:00Z
        assert_eq!(w.start(noon_utc_march_31), midnight_paris);
        assert_eq!(w.next(midnight_paris), midnight_paris + 23 * HOUR);
    }
}
