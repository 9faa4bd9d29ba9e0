//! Transforms: a series' sequence of `(time, value)` in, a new sequence out
//! (derivatives, differences, moving averages and the technical-analysis
//! family of 1.x: EMA, DEMA, TEMA, TRIX, RSI, CMO, KER and KAMA).

use super::{FunctionError, Value};

/// How the exponential averages start before `period` values are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Warmup {
    /// Exponential from the first value, with the weight scaled up meanwhile.
    Exponential,
    /// A simple average of the values so far.
    Simple,
    /// No warmup: for `chande_momentum_oscillator` only, the unsmoothed CMO.
    None,
}

/// A function over a sequence. `hold_period: None` is the function's own
/// warmup count (1.x's `-1`): that many first outputs are held back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transform {
    Derivative { unit: i64, non_negative: bool },
    Difference { non_negative: bool },
    MovingAverage(usize),
    CumulativeSum,
    Elapsed { unit: i64 },
    ExponentialMovingAverage { period: usize, hold_period: Option<usize>, warmup: Warmup },
    DoubleExponentialMovingAverage { period: usize, hold_period: Option<usize>, warmup: Warmup },
    TripleExponentialMovingAverage { period: usize, hold_period: Option<usize>, warmup: Warmup },
    TripleExponentialDerivative { period: usize, hold_period: Option<usize>, warmup: Warmup },
    RelativeStrengthIndex { period: usize, hold_period: Option<usize>, warmup: Warmup },
    ChandeMomentumOscillator { period: usize, hold_period: Option<usize>, warmup: Warmup },
    KaufmansEfficiencyRatio { period: usize, hold_period: Option<usize> },
    KaufmansAdaptiveMovingAverage { period: usize, hold_period: Option<usize> },
}

impl Transform {
    fn name(&self) -> &'static str {
        match self {
            Self::Derivative { non_negative: false, .. } => "derivative",
            Self::Derivative { non_negative: true, .. } => "non_negative_derivative",
            Self::Difference { non_negative: false } => "difference",
            Self::Difference { non_negative: true } => "non_negative_difference",
            Self::MovingAverage(_) => "moving_average",
            Self::CumulativeSum => "cumulative_sum",
            Self::Elapsed { .. } => "elapsed",
            Self::ExponentialMovingAverage { .. } => "exponential_moving_average",
            Self::DoubleExponentialMovingAverage { .. } => "double_exponential_moving_average",
            Self::TripleExponentialMovingAverage { .. } => "triple_exponential_moving_average",
            Self::TripleExponentialDerivative { .. } => "triple_exponential_derivative",
            Self::RelativeStrengthIndex { .. } => "relative_strength_index",
            Self::ChandeMomentumOscillator { .. } => "chande_momentum_oscillator",
            Self::KaufmansEfficiencyRatio { .. } => "kaufmans_efficiency_ratio",
            Self::KaufmansAdaptiveMovingAverage { .. } => "kaufmans_adaptive_moving_average",
        }
    }
}

/// Runs a transform over a series' values, in time order.
///
/// # Errors
/// The transform does not take the values' type (`derivative` of strings).
pub(crate) fn transform(t: &Transform, points: &[(i64, Value)]) -> Result<Vec<(i64, Value)>, FunctionError> {
    let name = t.name();
    if !matches!(t, Transform::Elapsed { .. })
        && let Some((_, v)) = points.iter().find(|(_, v)| v.as_f64().is_none())
    {
        return Err(FunctionError::unsupported(name, v));
    }
    Ok(match t {
        Transform::Derivative { unit, non_negative } => derivative(points, *unit, *non_negative),
        Transform::Difference { non_negative } => difference(points, *non_negative),
        Transform::MovingAverage(n) => moving_average(points, *n),
        Transform::CumulativeSum => cumulative_sum(points),
        Transform::Elapsed { unit } => {
            points.windows(2).map(|w| (w[1].0, Value::Integer((w[1].0 - w[0].0) / (*unit).max(1)))).collect()
        }
        Transform::ExponentialMovingAverage { period, hold_period, warmup } => {
            let ema = Ema::new(*period, *warmup);
            let hold = hold_period.unwrap_or(ema.warm_count());
            indicator(points, hold, ema, Ema::add)
        }
        Transform::DoubleExponentialMovingAverage { period, hold_period, warmup } => {
            let dema = Dema::new(*period, *warmup);
            let hold = hold_period.unwrap_or(dema.warm_count());
            indicator(points, hold, dema, Dema::add)
        }
        Transform::TripleExponentialMovingAverage { period, hold_period, warmup } => {
            let tema = Tema::new(*period, *warmup);
            let hold = hold_period.unwrap_or(tema.warm_count());
            indicator(points, hold, tema, Tema::add)
        }
        Transform::TripleExponentialDerivative { period, hold_period, warmup } => {
            let trix = Trix::new(*period, *warmup);
            let hold = hold_period.unwrap_or(trix.warm_count());
            indicator(points, hold, trix, Trix::add)
        }
        Transform::RelativeStrengthIndex { period, hold_period, warmup } => {
            let rsi = Rsi::new(*period, *warmup);
            let hold = hold_period.unwrap_or(rsi.up.warm_count());
            indicator(points, hold, rsi, Rsi::add)
        }
        Transform::ChandeMomentumOscillator { period, hold_period, warmup: Warmup::None } => {
            let cmo = Cmo::new(*period);
            let hold = hold_period.unwrap_or(cmo.ring.len());
            indicator(points, hold, cmo, Cmo::add)
        }
        Transform::ChandeMomentumOscillator { period, hold_period, warmup } => {
            // The smoothed CMO is the RSI's machinery with another output.
            let cmo = Rsi::new(*period, *warmup);
            let hold = hold_period.unwrap_or(cmo.up.warm_count());
            indicator(points, hold, cmo, Rsi::add_cmo)
        }
        Transform::KaufmansEfficiencyRatio { period, hold_period } => {
            let ker = Ker::new(*period);
            let hold = hold_period.unwrap_or(ker.ring.len());
            indicator(points, hold, ker, Ker::add)
        }
        Transform::KaufmansAdaptiveMovingAverage { period, hold_period } => {
            let kama = Kama::new(*period);
            let hold = hold_period.unwrap_or(kama.ker.ring.len());
            indicator(points, hold, kama, Kama::add)
        }
    })
}

/// Drops points at the time of the one before: a series joined from several
/// sources may repeat a time, and 1.x keeps the first.
fn advancing(points: &[(i64, Value)]) -> impl Iterator<Item = &(i64, Value)> {
    let mut last = None;
    points.iter().filter(move |(t, _)| {
        let keep = last != Some(*t);
        last = Some(*t);
        keep
    })
}

fn derivative(points: &[(i64, Value)], unit: i64, non_negative: bool) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut prev: Option<&(i64, Value)> = None;
    for curr in advancing(points) {
        if let Some((pt, pv)) = prev {
            let diff = match (pv, &curr.1) {
                (Value::Integer(a), Value::Integer(b)) => b.wrapping_sub(*a) as f64,
                (Value::Unsigned(a), Value::Unsigned(b)) if b >= a => (b - a) as f64,
                (Value::Unsigned(a), Value::Unsigned(b)) => -((a - b) as f64),
                (a, b) => b.as_f64().unwrap_or_default() - a.as_f64().unwrap_or_default(),
            };
            // Newest first (ORDER BY time DESC) the elapsed time is still positive, as in 1.x.
            let rate = diff / ((curr.0 - pt).abs() as f64 / unit as f64);
            if !(non_negative && diff < 0.0)
                && let Some(v) = Value::finite(rate)
            {
                out.push((curr.0, v));
            }
        }
        prev = Some(curr);
    }
    out
}

fn difference(points: &[(i64, Value)], non_negative: bool) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut prev: Option<&Value> = None;
    for (t, curr) in advancing(points) {
        if let Some(prev) = prev {
            let diff = match (prev, curr) {
                (Value::Integer(a), Value::Integer(b)) => {
                    (!non_negative || b >= a).then(|| Value::Integer(b.wrapping_sub(*a)))
                }
                (Value::Unsigned(a), Value::Unsigned(b)) => {
                    (!non_negative || b >= a).then(|| Value::Unsigned(b.wrapping_sub(*a)))
                }
                (a, b) => {
                    let d = b.as_f64().unwrap_or_default() - a.as_f64().unwrap_or_default();
                    if non_negative && d < 0.0 { None } else { Value::finite(d) }
                }
            };
            out.extend(diff.map(|d| (*t, d)));
        }
        prev = Some(curr);
    }
    out
}

/// The mean of each run of `n` values, kept as a running sum like 1.x (so
/// floats round the way its answers do).
fn moving_average(points: &[(i64, Value)], n: usize) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let integers = points.iter().all(|(_, v)| matches!(v, Value::Integer(_)));
    let (mut int_sum, mut float_sum) = (0i64, 0.0f64);
    for (i, (t, v)) in points.iter().enumerate() {
        if i >= n {
            let old = &points[i - n].1;
            match old {
                Value::Integer(x) if integers => int_sum = int_sum.wrapping_sub(*x),
                other => float_sum -= other.as_f64().unwrap_or_default(),
            }
        }
        match v {
            Value::Integer(x) if integers => int_sum = int_sum.wrapping_add(*x),
            other => float_sum += other.as_f64().unwrap_or_default(),
        }
        if i + 1 >= n {
            let sum = if integers { int_sum as f64 } else { float_sum };
            out.extend(Value::finite(sum / n as f64).map(|v| (*t, v)));
        }
    }
    out
}

fn cumulative_sum(points: &[(i64, Value)]) -> Vec<(i64, Value)> {
    let mut out = Vec::with_capacity(points.len());
    let mut sum: Option<Value> = None;
    for (t, v) in points {
        let next = match (&sum, v) {
            (None, v) => v.clone(),
            (Some(Value::Integer(a)), Value::Integer(b)) => Value::Integer(a.wrapping_add(*b)),
            (Some(Value::Unsigned(a)), Value::Unsigned(b)) => Value::Unsigned(a.wrapping_add(*b)),
            (Some(a), b) => Value::Float(a.as_f64().unwrap_or_default() + b.as_f64().unwrap_or_default()),
        };
        out.push((*t, next.clone()));
        sum = Some(next);
    }
    out
}

/// Feeds every value to a stateful indicator and keeps its outputs after the
/// first `hold` (and only finite ones: a ratio of zeros says nothing).
fn indicator<S>(points: &[(i64, Value)], hold: usize, mut state: S, add: fn(&mut S, f64) -> f64) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    for (i, (t, v)) in points.iter().enumerate() {
        let y = add(&mut state, v.as_f64().unwrap_or_default());
        if i + 1 > hold
            && let Some(y) = Value::finite(y)
        {
            out.push((*t, y));
        }
    }
    out
}

/// Exponential moving average with weight `alpha = 2 / (period + 1)`.
#[derive(Debug, Clone)]
struct Ema {
    period: usize,
    alpha: f64,
    warmup: Warmup,
    last: f64,
    count: usize,
}

impl Ema {
    fn new(period: usize, warmup: Warmup) -> Self {
        Self { period, alpha: 2.0 / (period as f64 + 1.0), warmup, last: 0.0, count: 0 }
    }

    fn warm_count(&self) -> usize {
        self.period.saturating_sub(1)
    }

    fn warmed(&self) -> bool {
        self.count == self.period
    }

    fn add(&mut self, v: f64) -> f64 {
        let avg = if self.count == 0 {
            v
        } else if self.warmed() {
            (v - self.last) * self.alpha + self.last
        } else if self.warmup == Warmup::Simple {
            (self.last * self.count as f64 + v) / (self.count as f64 + 1.0)
        } else {
            // Scale the weight while warming so the first value does not dominate.
            (v - self.last) * (2.0 / (self.count as f64 + 2.0)) + self.last
        };
        self.last = avg;
        if self.count < self.period {
            self.count += 1;
        }
        avg
    }

    /// Whether the next stage of a chained average takes this stage's output yet.
    fn feeds_next(&self) -> bool {
        self.warmed() || self.warmup != Warmup::Simple
    }
}

/// Double EMA: `2·EMA − EMA(EMA)`.
struct Dema {
    first: Ema,
    second: Ema,
}

impl Dema {
    fn new(period: usize, warmup: Warmup) -> Self {
        Self { first: Ema::new(period, warmup), second: Ema::new(period, warmup) }
    }

    fn warm_count(&self) -> usize {
        if self.first.warmup == Warmup::Simple { self.first.warm_count() * 2 } else { self.first.warm_count() }
    }

    fn add(&mut self, v: f64) -> f64 {
        let a = self.first.add(v);
        let b = if self.first.feeds_next() { self.second.add(a) } else { a };
        2.0 * a - b
    }
}

/// Triple EMA: `3·EMA − 3·EMA² + EMA³`.
struct Tema {
    stages: [Ema; 3],
}

impl Tema {
    fn new(period: usize, warmup: Warmup) -> Self {
        let ema = Ema::new(period, warmup);
        Self { stages: [ema.clone(), ema.clone(), ema] }
    }

    fn warm_count(&self) -> usize {
        let one = self.stages[0].warm_count();
        if self.stages[0].warmup == Warmup::Simple { one * 3 } else { one }
    }

    fn add(&mut self, v: f64) -> f64 {
        let a = self.stages[0].add(v);
        let b = if self.stages[0].feeds_next() { self.stages[1].add(a) } else { a };
        let c = if self.stages[1].feeds_next() { self.stages[2].add(b) } else { b };
        3.0 * a - 3.0 * b + c
    }
}

/// TRIX: the percent rate of change of a triple-smoothed EMA.
struct Trix {
    stages: [Ema; 3],
    last: f64,
    count: usize,
}

impl Trix {
    fn new(period: usize, warmup: Warmup) -> Self {
        let ema = Ema::new(period, warmup);
        Self { stages: [ema.clone(), ema.clone(), ema], last: 0.0, count: 0 }
    }

    fn warm_count(&self) -> usize {
        let one = self.stages[0].warm_count();
        if self.stages[0].warmup == Warmup::Simple { one * 3 + 1 } else { one + 1 }
    }

    fn add(&mut self, v: f64) -> f64 {
        let mut current = self.stages[0].add(v);
        if self.stages[0].feeds_next() {
            current = self.stages[1].add(current);
            if self.stages[1].feeds_next() {
                current = self.stages[2].add(current);
            }
        }
        let rate = (current / self.last - 1.0) * 100.0;
        self.last = current;
        if self.count < 2 && self.stages[2].warmed() {
            self.count += 1;
        }
        rate
    }
}

/// Wilder's RSI: smoothed gains over smoothed losses, each an EMA of
/// `period + 1` with `alpha = 1 / period`. The same state gives the smoothed
/// Chande momentum oscillator.
struct Rsi {
    up: Ema,
    down: Ema,
    last_value: f64,
}

impl Rsi {
    fn new(period: usize, warmup: Warmup) -> Self {
        let mut ema = Ema::new(period + 1, warmup);
        ema.alpha = 1.0 / period as f64;
        Self { up: ema.clone(), down: ema, last_value: 0.0 }
    }

    fn step(&mut self, v: f64) {
        let (up, down) = if v > self.last_value { (v - self.last_value, 0.0) } else { (0.0, self.last_value - v) };
        self.up.add(up);
        self.down.add(down);
        self.last_value = v;
    }

    fn add(&mut self, v: f64) -> f64 {
        self.step(v);
        100.0 - 100.0 / (1.0 + self.up.last / self.down.last)
    }

    fn add_cmo(&mut self, v: f64) -> f64 {
        self.step(v);
        100.0 * ((self.up.last - self.down.last) / (self.up.last + self.down.last))
    }
}

/// The unsmoothed Chande momentum oscillator over the last `period − 1`
/// changes, kept as running sums of gains and losses.
struct Cmo {
    /// (value, change from the value before) of the most recent points.
    ring: Vec<(f64, f64)>,
    newest: usize,
    sum_up: f64,
    sum_down: f64,
    count: usize,
}

impl Cmo {
    fn new(period: usize) -> Self {
        Self {
            ring: vec![(0.0, 0.0); period.saturating_sub(1).max(1)],
            newest: 0,
            sum_up: 0.0,
            sum_down: 0.0,
            count: 0,
        }
    }

    fn add(&mut self, v: f64) -> f64 {
        let oldest_index = (self.newest + 1) % self.ring.len();
        let mut diff = 0.0;
        if self.count != 0 {
            diff = v - self.ring[self.newest].0;
            if diff > 0.0 {
                self.sum_up += diff;
            } else if diff < 0.0 {
                self.sum_down -= diff;
            }
        }
        let out = if self.sum_up != 0.0 || self.sum_down != 0.0 {
            100.0 * ((self.sum_up - self.sum_down) / (self.sum_up + self.sum_down))
        } else {
            0.0
        };
        let oldest = self.ring[oldest_index].1;
        if oldest > 0.0 {
            self.sum_up -= oldest;
        } else if oldest < 0.0 {
            self.sum_down += oldest;
        }
        self.ring[oldest_index] = (v, diff);
        self.newest = oldest_index;
        if self.count < self.ring.len() + 2 {
            self.count += 1;
        }
        out
    }
}

/// Kaufman's efficiency ratio: net change over the sum of absolute changes
/// across the last `period` points.
struct Ker {
    ring: Vec<(f64, f64)>,
    newest: usize,
    noise: f64,
    count: usize,
}

impl Ker {
    fn new(period: usize) -> Self {
        Self { ring: vec![(0.0, 0.0); period.max(1)], newest: 0, noise: 0.0, count: 0 }
    }

    fn warmed(&self) -> bool {
        self.count == self.ring.len() + 1
    }

    fn add(&mut self, v: f64) -> f64 {
        let oldest_index = (self.newest + 1) % self.ring.len();
        let signal = (v - self.ring[oldest_index].0).abs();
        let diff = (v - self.ring[self.newest].0).abs();
        self.noise -= self.ring[oldest_index].1;
        self.noise += diff;
        let noise = self.noise;
        self.newest = oldest_index;
        self.ring[oldest_index] = (v, diff);
        if !self.warmed() {
            self.count += 1;
        }
        if signal == 0.0 || noise == 0.0 { 0.0 } else { signal / noise }
    }
}

/// Kaufman's adaptive moving average: an EMA whose weight follows the
/// efficiency ratio, between the 2- and 30-period EMA weights.
struct Kama {
    ker: Ker,
    last: f64,
}

impl Kama {
    fn new(period: usize) -> Self {
        Self { ker: Ker::new(period), last: 0.0 }
    }

    fn add(&mut self, v: f64) -> f64 {
        if !self.ker.warmed() {
            // Until warmed, start from the latest value.
            self.last = self.ker.ring[self.ker.newest].0;
        }
        let er = self.ker.add(v);
        let (fast, slow) = (2.0 / 3.0, 2.0 / 31.0);
        let sc = (er * (fast - slow) + slow).powi(2);
        self.last += sc * (v - self.last);
        self.last
    }
}
