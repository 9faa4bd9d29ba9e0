//! Aggregates and selectors: the points of one bucket in, one or more
//! outputs out. Points arrive in time order.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::{FunctionError, Value, compare};

/// One point of a bucket: its time, its value and its row in the series
/// (so that a selector's neighbours in that row can be shown beside it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) time: i64,
    pub(crate) value: Value,
    pub(crate) row: usize,
}

/// One output of a call. Selectors carry the chosen point's time and row;
/// aggregates carry neither (their time is the bucket's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selected {
    pub(crate) time: Option<i64>,
    pub(crate) value: Option<Value>,
    pub(crate) row: Option<usize>,
}

impl Selected {
    fn computed(value: Option<Value>) -> Self {
        Self { time: None, value, row: None }
    }

    fn point(p: &Point) -> Self {
        Self { time: Some(p.time), value: Some(p.value.clone()), row: Some(p.row) }
    }
}

/// A function that reduces a bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Aggregate {
    Count,
    Distinct,
    /// Area under the series by the trapezium rule, per `unit` nanoseconds.
    Integral {
        unit: i64,
    },
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Sum,
    First,
    Last,
    Max,
    Min,
    Percentile(f64),
    Sample(usize),
    Top(usize),
    Bottom(usize),
}

impl Aggregate {
    /// Selectors return points that exist (with their times), not computed values.
    #[must_use]
    pub(crate) fn is_selector(&self) -> bool {
        matches!(
            self,
            Self::First
                | Self::Last
                | Self::Max
                | Self::Min
                | Self::Percentile(_)
                | Self::Sample(_)
                | Self::Top(_)
                | Self::Bottom(_)
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Distinct => "distinct",
            Self::Integral { .. } => "integral",
            Self::Mean => "mean",
            Self::Median => "median",
            Self::Mode => "mode",
            Self::Spread => "spread",
            Self::Stddev => "stddev",
            Self::Sum => "sum",
            Self::First => "first",
            Self::Last => "last",
            Self::Max => "max",
            Self::Min => "min",
            Self::Percentile(_) => "percentile",
            Self::Sample(_) => "sample",
            Self::Top(_) => "top",
            Self::Bottom(_) => "bottom",
        }
    }
}

/// The numbers of a bucket, in the one type 1.x computes them in: integers
/// and unsigned stay exact, anything mixed is float.
enum Numbers {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    Unsigned(Vec<u64>),
}

fn numbers(function: &str, points: &[Point]) -> Result<Numbers, FunctionError> {
    if let Some(p) = points.iter().find(|p| p.value.as_f64().is_none()) {
        return Err(FunctionError::unsupported(function, &p.value));
    }
    if points.iter().all(|p| matches!(p.value, Value::Integer(_))) {
        return Ok(Numbers::Integer(
            points.iter().filter_map(|p| if let Value::Integer(i) = p.value { Some(i) } else { None }).collect(),
        ));
    }
    if points.iter().all(|p| matches!(p.value, Value::Unsigned(_))) {
        return Ok(Numbers::Unsigned(
            points.iter().filter_map(|p| if let Value::Unsigned(u) = p.value { Some(u) } else { None }).collect(),
        ));
    }
    Ok(Numbers::Float(points.iter().filter_map(|p| p.value.as_f64()).collect()))
}

/// Refuses strings (and booleans unless `booleans`), as 1.x's typed iterators do.
fn check_ordered(function: &str, points: &[Point], booleans: bool) -> Result<(), FunctionError> {
    match points
        .iter()
        .find(|p| matches!(p.value, Value::String(_)) || (!booleans && matches!(p.value, Value::Boolean(_))))
    {
        Some(p) => Err(FunctionError::unsupported(function, &p.value)),
        None => Ok(()),
    }
}

/// Reduces one bucket. An empty result means no value (e.g. a percentile
/// outside the points).
///
/// `Integral` here sees only this bucket; across GROUP BY time windows 1.x
/// interpolates at the window edges, which [`integral_windows`] does over a
/// whole series.
///
/// # Errors
/// The function does not take the points' type (`mean` of strings).
pub(crate) fn aggregate(agg: &Aggregate, points: &[Point]) -> Result<Vec<Selected>, FunctionError> {
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let name = agg.name();
    let one = |value: Option<Value>| Ok(vec![Selected::computed(value)]);
    match agg {
        Aggregate::Count => one(Some(Value::Integer(i64::try_from(points.len()).unwrap_or(i64::MAX)))),
        Aggregate::Distinct => Ok(distinct(points).into_iter().map(|v| Selected::computed(Some(v))).collect()),
        Aggregate::Integral { unit } => {
            let windows = integral_windows(points, *unit, &|_| (0, i64::MAX))?;
            Ok(windows.into_iter().map(|(_, area)| Selected::computed(Value::finite(area))).collect())
        }
        Aggregate::Mean => one(Value::finite(match numbers(name, points)? {
            Numbers::Float(v) => v.iter().sum::<f64>() / v.len() as f64,
            Numbers::Integer(v) => v.iter().fold(0i64, |a, b| a.wrapping_add(*b)) as f64 / v.len() as f64,
            Numbers::Unsigned(v) => v.iter().fold(0u64, |a, b| a.wrapping_add(*b)) as f64 / v.len() as f64,
        })),
        Aggregate::Median => one(median(numbers(name, points)?)),
        Aggregate::Mode => one(Some(mode(points))),
        Aggregate::Spread => one(match numbers(name, points)? {
            Numbers::Float(v) => {
                let (lo, hi) =
                    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                Value::finite(hi - lo)
            }
            Numbers::Integer(v) => {
                let (lo, hi) = (v.iter().min().copied().unwrap_or(0), v.iter().max().copied().unwrap_or(0));
                Some(Value::Integer(hi.wrapping_sub(lo)))
            }
            Numbers::Unsigned(v) => {
                let (lo, hi) = (v.iter().min().copied().unwrap_or(0), v.iter().max().copied().unwrap_or(0));
                Some(Value::Unsigned(hi - lo))
            }
        }),
        Aggregate::Stddev => one(stddev(numbers(name, points)?)),
        Aggregate::Sum => one(match numbers(name, points)? {
            Numbers::Float(v) => Value::finite(v.iter().sum()),
            Numbers::Integer(v) => Some(Value::Integer(v.iter().fold(0i64, |a, b| a.wrapping_add(*b)))),
            Numbers::Unsigned(v) => Some(Value::Unsigned(v.iter().fold(0u64, |a, b| a.wrapping_add(*b)))),
        }),
        // Ties in time go to the greater value (for booleans: first prefers false).
        Aggregate::First => Ok(best(points, |a, b| {
            b.time.cmp(&a.time).then_with(|| match (&a.value, &b.value) {
                (Value::Boolean(x), Value::Boolean(y)) => y.cmp(x),
                (x, y) => compare(x, y),
            })
        })),
        Aggregate::Last => Ok(best(points, |a, b| a.time.cmp(&b.time).then_with(|| compare(&a.value, &b.value)))),
        // Ties in value go to the earliest point.
        Aggregate::Max => {
            check_ordered(name, points, true)?;
            Ok(best(points, |a, b| compare(&a.value, &b.value).then_with(|| b.time.cmp(&a.time))))
        }
        Aggregate::Min => {
            check_ordered(name, points, true)?;
            Ok(best(points, |a, b| compare(&b.value, &a.value).then_with(|| b.time.cmp(&a.time))))
        }
        Aggregate::Percentile(p) => {
            check_ordered(name, points, false)?;
            // Nearest rank; below the first or past the last point there is no value.
            let rank = (points.len() as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
            let Ok(rank) = usize::try_from(rank) else { return Ok(Vec::new()) };
            let mut sorted: Vec<&Point> = points.iter().collect();
            sorted.sort_by(|a, b| compare(&a.value, &b.value));
            Ok(sorted.get(rank).map(|p| vec![Selected::point(p)]).unwrap_or_default())
        }
        Aggregate::Sample(n) => Ok(sample(points, *n).into_iter().map(Selected::point).collect()),
        Aggregate::Top(n) => top_bottom(points, *n, false, None),
        Aggregate::Bottom(n) => top_bottom(points, *n, true, None),
    }
}

/// The point that `better` ranks highest; the first such on ties.
fn best(points: &[Point], better: impl Fn(&Point, &Point) -> Ordering) -> Vec<Selected> {
    let mut chosen = &points[0];
    for p in &points[1..] {
        if better(p, chosen) == Ordering::Greater {
            chosen = p;
        }
    }
    vec![Selected::point(chosen)]
}

/// Hashable identity of a value, for distinct.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Float(u64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
}

impl From<&Value> for Key {
    fn from(v: &Value) -> Self {
        match v {
            // -0.0 and 0.0 are one value.
            Value::Float(f) => Self::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Integer(i) => Self::Integer(*i),
            Value::Unsigned(u) => Self::Unsigned(*u),
            Value::String(s) => Self::String(s.clone()),
            Value::Boolean(b) => Self::Boolean(*b),
        }
    }
}

/// The distinct values in order of first appearance (1.x sorts them by the
/// time they were first seen).
fn distinct(points: &[Point]) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut firsts: Vec<&Point> = points.iter().filter(|p| seen.insert(Key::from(&p.value))).collect();
    firsts.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| compare(&a.value, &b.value)));
    firsts.into_iter().map(|p| p.value.clone()).collect()
}

fn median(numbers: Numbers) -> Option<Value> {
    match numbers {
        Numbers::Float(mut v) => {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            Value::finite(if n % 2 == 0 { v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0 } else { v[n / 2] })
        }
        Numbers::Integer(mut v) => {
            v.sort_unstable();
            let n = v.len();
            let (lo, hi) = (v[(n - 1) / 2], v[n / 2]);
            Value::finite(lo as f64 + hi.wrapping_sub(lo) as f64 / 2.0)
        }
        Numbers::Unsigned(mut v) => {
            v.sort_unstable();
            let n = v.len();
            let (lo, hi) = (v[(n - 1) / 2], v[n / 2]);
            Value::finite(lo as f64 + (hi - lo) as f64 / 2.0)
        }
    }
}

/// The most frequent value. 1.x walks the values sorted, and a run only
/// takes over from an equally frequent earlier one when it started no later;
/// a value seen once never displaces the smallest value.
fn mode(points: &[Point]) -> Value {
    if let Some(Value::Boolean(_)) = points.first().map(|p| &p.value) {
        let trues = points.iter().filter(|p| p.value == Value::Boolean(true)).count();
        return Value::Boolean(trues * 2 >= points.len());
    }
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by(|a, b| compare(&a.value, &b.value));
    let (mut most, mut most_freq, mut most_time) = (sorted[0], 0usize, sorted[0].time);
    let (mut current, mut freq, mut run_time) = (&sorted[0].value, 0usize, sorted[0].time);
    for p in &sorted {
        if compare(&p.value, current) != Ordering::Equal {
            (current, freq, run_time) = (&p.value, 1, p.time);
            continue;
        }
        freq += 1;
        if most_freq > freq || (most_freq == freq && run_time > most_time) {
            continue;
        }
        (most, most_freq, most_time) = (p, freq, p.time);
    }
    most.value.clone()
}

/// Sample standard deviation; undefined (no value) below two points. Float
/// NaNs are left out, as 1.x does.
fn stddev(numbers: Numbers) -> Option<Value> {
    let values: Vec<f64> = match numbers {
        Numbers::Float(v) => v.into_iter().filter(|f| !f.is_nan()).collect(),
        Numbers::Integer(v) => v.into_iter().map(|i| i as f64).collect(),
        Numbers::Unsigned(v) => v.into_iter().map(|u| u as f64).collect(),
    };
    if values.len() < 2 {
        return None;
    }
    let mut mean = 0.0;
    for (i, x) in values.iter().enumerate() {
        mean += (x - mean) / (i + 1) as f64;
    }
    let variance: f64 = values.iter().map(|x| (x - mean).powi(2)).sum();
    Value::finite((variance / (values.len() - 1) as f64).sqrt())
}

/// Up to `n` points chosen uniformly at random, in time order.
fn sample(points: &[Point], n: usize) -> Vec<&Point> {
    if points.len() <= n {
        return points.iter().collect();
    }
    // Reservoir sampling; the standard library's per-process random hasher
    // keys is randomness enough for picking rows.
    let random = RandomState::new();
    let mut reservoir: Vec<&Point> = points[..n].iter().collect();
    for (i, p) in points.iter().enumerate().skip(n) {
        let j = usize::try_from(random.hash_one(i) % (i as u64 + 1)).unwrap_or(usize::MAX);
        if j < n {
            reservoir[j] = p;
        }
    }
    reservoir.sort_by_key(|p| (p.time, p.row));
    reservoir
}

/// `top`/`bottom`: the `n` largest (smallest) values, ties to the earliest
/// point, returned in time order. With a `key` (the tags named in the call)
/// each key contributes only its own best point.
///
/// # Errors
/// Strings and booleans have no top.
pub(crate) fn top_bottom(
    points: &[Point],
    n: usize,
    bottom: bool,
    key: Option<&dyn Fn(usize) -> String>,
) -> Result<Vec<Selected>, FunctionError> {
    check_ordered(if bottom { "bottom" } else { "top" }, points, false)?;
    // Best first: by value (descending for top), then earliest.
    let rank = |a: &&Point, b: &&Point| {
        let by_value = compare(&a.value, &b.value);
        (if bottom { by_value } else { by_value.reverse() }).then_with(|| a.time.cmp(&b.time))
    };
    let mut candidates: Vec<&Point> = match key {
        None => points.iter().collect(),
        Some(key) => {
            let mut best: Vec<(String, &Point)> = Vec::new();
            let mut index = std::collections::HashMap::new();
            for p in points {
                let k = key(p.row);
                match index.get(&k) {
                    Some(&i) => {
                        let slot: &mut (String, &Point) = &mut best[i];
                        if rank(&p, &slot.1) == Ordering::Less {
                            slot.1 = p;
                        }
                    }
                    None => {
                        index.insert(k.clone(), best.len());
                        best.push((k, p));
                    }
                }
            }
            best.into_iter().map(|(_, p)| p).collect()
        }
    };
    candidates.sort_by(rank);
    candidates.truncate(n);
    candidates.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| rank(a, b)));
    Ok(candidates.into_iter().map(Selected::point).collect())
}

/// 1.x's integral over a whole series cut into windows by `window_of` (a
/// time's window as `[start, end)`): the area between consecutive points by
/// the trapezium rule, split at a window's end by linear interpolation, so a
/// window also gets the area from the previous window's end to its first
/// point. Returns `(window start, area)` for each window that closes, in time
/// order; like 1.x, the last window is left out when its last point sits at
/// its start.
///
/// # Errors
/// The points are not numbers.
pub(crate) fn integral_windows(
    points: &[Point],
    unit: i64,
    window_of: &dyn Fn(i64) -> (i64, i64),
) -> Result<Vec<(i64, f64)>, FunctionError> {
    numbers("integral", points)?;
    let unit = unit as f64;
    let mut out = Vec::new();
    let Some(first) = points.first() else { return Ok(out) };
    let value = |p: &Point| p.value.as_f64().unwrap_or_default();
    let mut prev = (first.time, value(first));
    let (mut start, mut end) = window_of(first.time);
    let mut sum = 0.0;
    for p in &points[1..] {
        let v = value(p);
        if p.time == prev.0 {
            prev = (p.time, v);
            continue;
        }
        if p.time >= end {
            if prev.0 != end {
                let at_end = prev.1 + (v - prev.1) / (p.time - prev.0) as f64 * (end - prev.0) as f64;
                sum += 0.5 * (at_end + prev.1) * (end - prev.0) as f64 / unit;
                prev = (end, at_end);
            }
            out.push((start, sum));
            (start, end) = window_of(p.time);
            sum = 0.0;
        }
        sum += 0.5 * (v + prev.1) * (p.time - prev.0) as f64 / unit;
        prev = (p.time, v);
    }
    if prev.0 != start {
        out.push((start, sum));
    }
    Ok(out)
}
