//! The fields of a SELECT as evaluation trees over the columns a scan reads,
//! named and checked by 1.x's rules: an aggregate query may carry bare
//! fields and tags only beside a single selector (`max(x), host`), a
//! transform under GROUP BY time needs an aggregate inside, and `count(*)` or
//! `mean(/re/)` expand to one column per field (`count_a`, `count_b`).

use std::collections::HashMap;

use sediment_catalog::{ColumnKind, FieldType};
use sediment_sql::influxql::ast::{BinaryOp, DataType as Cast, Expr, Field, Literal, SelectStatement};

use super::super::functions::{Aggregate, Transform, Value, Warmup, is_math};
use super::super::{InfluxqlError, Result, regex};

/// The columns of what a SELECT reads: a measurement, or a subquery's result.
#[derive(Debug, Clone)]
pub(super) struct Schema {
    /// Sorted by name, `time` left out.
    pub columns: Vec<(String, ColumnKind)>,
}

impl Schema {
    pub(super) fn kind(&self, name: &str) -> Option<&ColumnKind> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, k)| k)
    }

    pub(super) fn tags(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().filter(|(_, k)| matches!(k, ColumnKind::Tag)).map(|(n, _)| n.as_str())
    }

    fn fields(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.columns.iter().filter_map(|(n, k)| match k {
            ColumnKind::Field(t) => Some((n.as_str(), *t)),
            _ => None,
        })
    }
}

/// How one output value is computed.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// A scanned column of the current row.
    Var(usize),
    /// A scanned column of the row a lone selector picked.
    Aux(usize),
    Null,
    Literal(Value),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    Math(String, Vec<Node>),
    /// The result of `Compiled::calls[i]` for the bucket.
    Call(usize),
    Transform(Transform, Box<Node>),
}

/// An aggregate or selector over a scanned column, per bucket.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub aggregate: Aggregate,
    pub input: usize,
    /// `top(x, host, 3)`: the tag columns whose values must differ.
    pub tags: Vec<usize>,
    /// `count(distinct(x))`.
    pub count_distinct: bool,
}

#[derive(Debug, Clone)]
pub(super) struct OutColumn {
    pub name: String,
    pub node: Node,
    /// Reads a field (a row whose field columns are all null is no row in 1.x).
    pub reads_field: bool,
    /// Named by an `AS`: kept as written, where a generated name that
    /// repeats gets a `_N` suffix.
    pub aliased: bool,
}

/// A SELECT ready to run over one source.
#[derive(Debug, Clone)]
pub(super) struct Compiled {
    /// The scanned columns, besides `time` and the GROUP BY tags.
    pub scan: Vec<String>,
    pub columns: Vec<OutColumn>,
    pub calls: Vec<Call>,
}

impl Compiled {
    pub(super) fn is_aggregate(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Rows carry the chosen point's time: `top`/`bottom`/`sample` always, and
    /// a lone selector without GROUP BY time.
    pub(super) fn point_time(&self, grouped_by_time: bool) -> bool {
        match self.calls.as_slice() {
            [call] => {
                matches!(call.aggregate, Aggregate::Top(_) | Aggregate::Bottom(_) | Aggregate::Sample(_))
                    || (!grouped_by_time && call.aggregate.is_selector() && !call.count_distinct)
            }
            _ => false,
        }
    }
}

const AGGREGATES: &[&str] = &[
    "count",
    "distinct",
    "integral",
    "mean",
    "median",
    "mode",
    "spread",
    "stddev",
    "sum",
    "first",
    "last",
    "max",
    "min",
    "percentile",
    "sample",
    "top",
    "bottom",
];

const TRANSFORMS: &[&str] = &[
    "derivative",
    "non_negative_derivative",
    "difference",
    "non_negative_difference",
    "moving_average",
    "cumulative_sum",
    "elapsed",
    "exponential_moving_average",
    "double_exponential_moving_average",
    "triple_exponential_moving_average",
    "triple_exponential_derivative",
    "relative_strength_index",
    "chande_momentum_oscillator",
    "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average",
];

/// Compiles `statement`'s fields against `schema`; `grouped` are the GROUP BY
/// tags (a wildcard leaves them out). A wildcard expands to the columns of
/// `wildcard`, every source of FROM together, as in 1.x. `None` when no selected field exists
/// here: 1.x then answers nothing for this source.
///
/// # Errors
/// Unknown functions, wrong arguments, mixing aggregates with raw fields.
pub(super) fn compile(
    schema: &Schema,
    wildcard: &Schema,
    statement: &SelectStatement,
    grouped: &[String],
    interval: Option<i64>,
) -> Result<Option<Compiled>> {
    let mut compiler =
        Compiler { schema, wildcard, grouped, interval, scan: Vec::new(), calls: Vec::new(), any_field: false };
    let mut columns = Vec::new();
    for field in &statement.fields {
        compiler.field(field, &mut columns)?;
    }
    if !compiler.any_field {
        return Ok(None);
    }
    unique_names(&mut columns);
    let mut compiled = Compiled { scan: compiler.scan, columns, calls: compiler.calls };
    check(&mut compiled, interval)?;
    Ok(Some(compiled))
}

/// 1.x's column names: aliases as written, and a generated name seen before
/// gets the first free `_N` suffix (`mean`, `mean_1`).
fn unique_names(columns: &mut [OutColumn]) {
    let mut seen: HashMap<String, usize> = columns.iter().filter(|c| c.aliased).map(|c| (c.name.clone(), 1)).collect();
    for column in columns.iter_mut().filter(|c| !c.aliased) {
        let name = column.name.clone();
        if let Some(&start) = seen.get(&name) {
            let mut n = start;
            while seen.contains_key(&format!("{name}_{n}")) {
                n += 1;
            }
            seen.insert(name.clone(), n + 1);
            column.name = format!("{name}_{n}");
        }
        *seen.entry(column.name.clone()).or_insert(0) += 1;
    }
}

fn invalid(message: impl Into<String>) -> InfluxqlError {
    InfluxqlError::Invalid(message.into())
}

/// 1.x's rules on mixing raw values and aggregates.
fn check(compiled: &mut Compiled, interval: Option<i64>) -> Result<()> {
    if compiled.calls.len() > 1
        && let Some(call) =
            compiled.calls.iter().find(|c| matches!(c.aggregate, Aggregate::Top(_) | Aggregate::Bottom(_)))
    {
        let name = if matches!(call.aggregate, Aggregate::Top(_)) { "top" } else { "bottom" };
        return Err(invalid(format!("selector function {name}() cannot be combined with other functions")));
    }
    if !compiled.is_aggregate() {
        if interval.is_some() {
            return Err(invalid("GROUP BY requires at least one aggregate function"));
        }
        return Ok(());
    }
    let lone_selector = matches!(compiled.calls.as_slice(), [c] if c.aggregate.is_selector() && !c.count_distinct);
    for column in &mut compiled.columns {
        if has_var(&column.node) {
            if !lone_selector {
                return Err(invalid("mixing aggregate and non-aggregate queries is not supported"));
            }
            to_aux(&mut column.node);
        }
    }
    Ok(())
}

fn has_var(node: &Node) -> bool {
    match node {
        Node::Var(_) => true,
        Node::Binary(_, l, r) => has_var(l) || has_var(r),
        Node::Math(_, args) => args.iter().any(has_var),
        Node::Transform(_, inner) => has_var(inner),
        _ => false,
    }
}

fn to_aux(node: &mut Node) {
    match node {
        Node::Var(i) => *node = Node::Aux(*i),
        Node::Binary(_, l, r) => {
            to_aux(l);
            to_aux(r);
        }
        Node::Math(_, args) => args.iter_mut().for_each(to_aux),
        Node::Transform(_, inner) => to_aux(inner),
        _ => {}
    }
}

struct Compiler<'a> {
    schema: &'a Schema,
    wildcard: &'a Schema,
    grouped: &'a [String],
    interval: Option<i64>,
    scan: Vec<String>,
    calls: Vec<Call>,
    /// Some selected name is a field of this source.
    any_field: bool,
}

impl Compiler<'_> {
    fn scan_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.scan.iter().position(|n| n == name) {
            return i;
        }
        self.scan.push(name.to_owned());
        self.scan.len() - 1
    }

    fn field(&mut self, field: &Field, out: &mut Vec<OutColumn>) -> Result<()> {
        match &field.expr {
            Expr::Wildcard(cast) => {
                let want = |k: &ColumnKind| match cast {
                    Some(Cast::Tag) => matches!(k, ColumnKind::Tag),
                    Some(Cast::Field) => matches!(k, ColumnKind::Field(_)),
                    _ => true,
                };
                self.expand_raw(|_, kind| want(kind), out);
            }
            Expr::Regex(pattern) => {
                let re = regex(pattern)?;
                self.expand_raw(|name, _| re.is_match(name), out);
            }
            Expr::Call { name, args } if AGGREGATES.contains(&name.as_str()) && is_multi(args.first()) => {
                let matching = self.matching_fields(args.first(), name)?;
                for field_name in matching {
                    let mut args = args.clone();
                    args[0] = Expr::VarRef { name: field_name.clone(), data_type: None };
                    let node = self.node(&Expr::Call { name: name.clone(), args })?;
                    let column_name = match &field.alias {
                        Some(alias) => format!("{alias}_{field_name}"),
                        None => format!("{name}_{field_name}"),
                    };
                    out.push(OutColumn { name: column_name, node, reads_field: true, aliased: field.alias.is_some() });
                }
            }
            expr => {
                let node = self.node(expr)?;
                let name = field.alias.clone().unwrap_or_else(|| default_name(expr));
                let reads_field = self.reads_field(expr);
                out.push(OutColumn { name, node, reads_field, aliased: field.alias.is_some() });
                // top/bottom(x, tag..., N) also answer each named tag of the chosen points.
                if let Expr::Call { name, args } = expr
                    && matches!(name.as_str(), "top" | "bottom")
                    && args.len() > 2
                {
                    for arg in &args[1..args.len() - 1] {
                        if let Expr::VarRef { name, data_type } = arg {
                            let node = self.var(name, *data_type).map_or(Node::Null, Node::Aux);
                            out.push(OutColumn { name: name.clone(), node, reads_field: false, aliased: false });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `*` or `/re/` in a raw SELECT: matching columns, the GROUP BY tags left out.
    fn expand_raw(&mut self, want: impl Fn(&str, &ColumnKind) -> bool, out: &mut Vec<OutColumn>) {
        let wildcard = self.wildcard;
        for (name, kind) in &wildcard.columns {
            if !want(name, kind) || self.grouped.contains(name) {
                continue;
            }
            let is_field = matches!(kind, ColumnKind::Field(_));
            let node = match self.schema.kind(name) {
                Some(_) => {
                    self.any_field |= is_field;
                    Node::Var(self.scan_index(name))
                }
                None => Node::Null,
            };
            out.push(OutColumn { name: name.clone(), node, reads_field: is_field, aliased: false });
        }
    }

    /// The fields `count(*)` or `mean(/re/)` expands to: those of a type `function` takes.
    fn matching_fields(&self, arg: Option<&Expr>, function: &str) -> Result<Vec<String>> {
        let re = match arg {
            Some(Expr::Regex(pattern)) => Some(regex(pattern)?),
            _ => None,
        };
        let numeric_only = matches!(
            function,
            "mean"
                | "median"
                | "spread"
                | "stddev"
                | "sum"
                | "integral"
                | "percentile"
                | "max"
                | "min"
                | "top"
                | "bottom"
        );
        // Over every source of FROM, like `*`: a field another measurement has is a null column here.
        Ok(self
            .wildcard
            .fields()
            .filter(|(name, _)| re.as_ref().is_none_or(|re| re.is_match(name)))
            .filter(|(_, t)| !numeric_only || matches!(t, FieldType::Float | FieldType::Integer | FieldType::UInteger))
            .map(|(name, _)| name.to_owned())
            .collect())
    }

    fn reads_field(&self, expr: &Expr) -> bool {
        match expr {
            Expr::VarRef { name, .. } => matches!(self.schema.kind(name), Some(ColumnKind::Field(_))),
            Expr::Call { args, .. } => args.iter().any(|a| self.reads_field(a)),
            Expr::Binary { left, right, .. } => self.reads_field(left) || self.reads_field(right),
            Expr::Paren(inner) | Expr::Negate(inner) => self.reads_field(inner),
            _ => false,
        }
    }

    /// A name of this source, respecting a `::tag`/`::field` cast; `None` when absent.
    fn var(&mut self, name: &str, cast: Option<Cast>) -> Option<usize> {
        let kind = self.schema.kind(name)?;
        let present = match (cast, kind) {
            (Some(Cast::Tag), ColumnKind::Tag) | (None, _) => true,
            (Some(Cast::Tag), _) | (Some(_), ColumnKind::Tag) => false,
            (Some(_), _) => true,
        };
        if !present {
            return None;
        }
        self.any_field |= matches!(kind, ColumnKind::Field(_));
        Some(self.scan_index(name))
    }

    fn node(&mut self, expr: &Expr) -> Result<Node> {
        Ok(match expr {
            Expr::VarRef { name, data_type } => self.var(name, *data_type).map_or(Node::Null, Node::Var),
            Expr::Literal(l) => Node::Literal(literal_value(l)),
            Expr::Paren(inner) => self.node(inner)?,
            Expr::Negate(inner) => {
                Node::Binary(BinaryOp::Mul, Box::new(Node::Literal(Value::Integer(-1))), Box::new(self.node(inner)?))
            }
            Expr::Binary { left, op, right } => {
                let op = arith(*op).ok_or_else(|| invalid(format!("invalid operator {} in a field", op.as_str())))?;
                Node::Binary(op, Box::new(self.node(left)?), Box::new(self.node(right)?))
            }
            Expr::Call { name, args } if AGGREGATES.contains(&name.as_str()) => self.aggregate(name, args)?,
            Expr::Call { name, args } if TRANSFORMS.contains(&name.as_str()) => self.transform(name, args)?,
            Expr::Call { name, args } if is_math(name) => {
                Node::Math(name.clone(), args.iter().map(|a| self.node(a)).collect::<Result<_>>()?)
            }
            Expr::Call { name, .. } => return Err(invalid(format!("undefined function {name}()"))),
            Expr::Wildcard(_) | Expr::Regex(_) => {
                return Err(invalid(
                    "a wildcard or regex is allowed only as a whole field or a function's first argument",
                ));
            }
            Expr::Param(p) => return Err(invalid(format!("parameter ${p} is not allowed in a field"))),
        })
    }

    fn aggregate(&mut self, name: &str, args: &[Expr]) -> Result<Node> {
        let expect = |n: std::ops::RangeInclusive<usize>| {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                Err(invalid(format!("invalid number of arguments for {name}, expected {n:?}, got {}", args.len())))
            }
        };
        // count(distinct(x)) is the one aggregate of an aggregate 1.x allows.
        if name == "count"
            && let [Expr::Call { name: inner, args: inner_args }] = args
            && inner == "distinct"
        {
            let Some(input) = self.call_input(inner, inner_args.first())? else { return Ok(Node::Null) };
            self.calls.push(Call { aggregate: Aggregate::Distinct, input, tags: Vec::new(), count_distinct: true });
            return Ok(Node::Call(self.calls.len() - 1));
        }
        let mut tags = Vec::new();
        let aggregate = match name {
            "count" | "distinct" | "mean" | "median" | "mode" | "spread" | "stddev" | "sum" | "first" | "last"
            | "max" | "min" => {
                expect(1..=1)?;
                match name {
                    "count" => Aggregate::Count,
                    "distinct" => Aggregate::Distinct,
                    "mean" => Aggregate::Mean,
                    "median" => Aggregate::Median,
                    "mode" => Aggregate::Mode,
                    "spread" => Aggregate::Spread,
                    "stddev" => Aggregate::Stddev,
                    "sum" => Aggregate::Sum,
                    "first" => Aggregate::First,
                    "last" => Aggregate::Last,
                    "max" => Aggregate::Max,
                    _ => Aggregate::Min,
                }
            }
            "integral" => {
                expect(1..=2)?;
                let unit = match args.get(1) {
                    Some(arg) => duration_arg(name, arg)?,
                    None => 1_000_000_000,
                };
                Aggregate::Integral { unit }
            }
            "percentile" => {
                expect(2..=2)?;
                let p = match &args[1] {
                    Expr::Literal(Literal::Integer(n)) => *n as f64,
                    Expr::Literal(Literal::Float(f)) => *f,
                    other => return Err(invalid(format!("expected float argument in percentile(), got {other}"))),
                };
                Aggregate::Percentile(p)
            }
            "sample" => {
                expect(2..=2)?;
                Aggregate::Sample(count_arg(name, &args[1])?)
            }
            _ => {
                // top/bottom(field, [tag, ...], N)
                if args.len() < 2 {
                    return Err(invalid(format!("{name}() requires 2 or more arguments, got {}", args.len())));
                }
                let n = match &args[args.len() - 1] {
                    Expr::Literal(Literal::Integer(n)) if *n < 1 => {
                        return Err(invalid(format!("limit ({n}) in {name} function must be at least 1")));
                    }
                    arg => count_arg(name, arg)?,
                };
                for arg in &args[1..args.len() - 1] {
                    let Expr::VarRef { name: tag, .. } = arg else {
                        return Err(invalid(format!("only fields or tags are allowed in {name}(), found {arg}")));
                    };
                    if let Some(i) = self.var(tag, None) {
                        tags.push(i);
                    }
                }
                if name == "top" { Aggregate::Top(n) } else { Aggregate::Bottom(n) }
            }
        };
        let Some(input) = self.call_input(name, args.first())? else { return Ok(Node::Null) };
        self.calls.push(Call { aggregate, input, tags, count_distinct: false });
        Ok(Node::Call(self.calls.len() - 1))
    }

    /// The field an aggregate reads; `None` when this source lacks it.
    fn call_input(&mut self, name: &str, arg: Option<&Expr>) -> Result<Option<usize>> {
        match arg {
            Some(Expr::VarRef { name: field, data_type }) => Ok(self.var(field, *data_type)),
            Some(other) => Err(invalid(format!("expected field argument in {name}(), got {other}"))),
            None => Err(invalid(format!("invalid number of arguments for {name}, expected 1, got 0"))),
        }
    }

    fn transform(&mut self, name: &str, args: &[Expr]) -> Result<Node> {
        let Some(first) = args.first() else {
            return Err(invalid(format!("invalid number of arguments for {name}, expected at least 1, got 0")));
        };
        let inner = match first {
            Expr::Call { .. } if self.interval.is_none() => {
                return Err(invalid(format!("{name} aggregate requires a GROUP BY interval")));
            }
            Expr::Call { name: inner, .. } if AGGREGATES.contains(&inner.as_str()) => self.node(first)?,
            Expr::VarRef { .. } if self.interval.is_some() => {
                return Err(invalid(format!("aggregate function required inside the call to {name}")));
            }
            Expr::VarRef { .. } => self.node(first)?,
            other => return Err(invalid(format!("expected field argument in {name}(), got {other}"))),
        };
        let rest = &args[1..];
        let unit = |default: i64| -> Result<i64> {
            match rest {
                [] => Ok(default),
                [d] => duration_arg(name, d),
                _ => Err(invalid(format!("invalid number of arguments for {name}, expected at most 2"))),
            }
        };
        // 1.x: the GROUP BY interval when there is one, else one second.
        let derivative_unit = self.interval.unwrap_or(1_000_000_000);
        let transform = match name {
            "derivative" => Transform::Derivative { unit: unit(derivative_unit)?, non_negative: false },
            "non_negative_derivative" => Transform::Derivative { unit: unit(derivative_unit)?, non_negative: true },
            "difference" | "non_negative_difference" => {
                if !rest.is_empty() {
                    return Err(invalid(format!("invalid number of arguments for {name}, expected 1")));
                }
                Transform::Difference { non_negative: name == "non_negative_difference" }
            }
            "cumulative_sum" => {
                if !rest.is_empty() {
                    return Err(invalid(format!("invalid number of arguments for {name}, expected 1")));
                }
                Transform::CumulativeSum
            }
            "elapsed" => Transform::Elapsed { unit: unit(1)? },
            "moving_average" => match rest {
                [Expr::Literal(Literal::Integer(n))] if *n > 1 => {
                    Transform::MovingAverage(usize::try_from(*n).map_err(|_| invalid("window too large"))?)
                }
                [Expr::Literal(Literal::Integer(n))] => {
                    return Err(invalid(format!("moving_average window must be greater than 1, got {n}")));
                }
                [_] => return Err(invalid("second argument for moving_average must be an integer")),
                _ => {
                    return Err(invalid(format!(
                        "invalid number of arguments for moving_average, expected 2, got {}",
                        rest.len() + 1
                    )));
                }
            },
            _ => oscillator(name, rest)?,
        };
        Ok(Node::Transform(transform, Box::new(inner)))
    }
}

/// The exponential family and the oscillators: `(x, period[, hold_period[, warmup]])`,
/// checked with 1.x's messages.
fn oscillator(name: &str, rest: &[Expr]) -> Result<Transform> {
    let kaufmans = name.starts_with("kaufmans_");
    let max_args = if kaufmans { 3 } else { 4 };
    if rest.is_empty() || rest.len() >= max_args {
        return Err(invalid(format!(
            "invalid number of arguments for {name}, expected at least 2 but no more than {max_args}, got {}",
            rest.len() + 1
        )));
    }
    let period = match &rest[0] {
        Expr::Literal(Literal::Integer(n)) if *n >= 1 => {
            usize::try_from(*n).map_err(|_| invalid("period too large"))?
        }
        Expr::Literal(Literal::Integer(_)) => {
            return Err(invalid(format!("{name} period must be greater than or equal to 1")));
        }
        _ => return Err(invalid(format!("{name} period must be an integer"))),
    };
    let hold_period = match rest.get(1) {
        None | Some(Expr::Literal(Literal::Integer(-1))) => None,
        Some(Expr::Literal(Literal::Integer(n))) if name == "triple_exponential_derivative" && *n < 1 => {
            return Err(invalid(format!("{name} hold period must be greater than or equal to 1")));
        }
        Some(Expr::Literal(Literal::Integer(n))) if *n >= 0 => {
            Some(usize::try_from(*n).map_err(|_| invalid("hold period too large"))?)
        }
        Some(Expr::Literal(Literal::Integer(_))) => {
            return Err(invalid(format!("{name} hold period must be greater than or equal to 0")));
        }
        Some(_) => return Err(invalid(format!("{name} hold period must be an integer"))),
    };
    let cmo = name == "chande_momentum_oscillator";
    let warmup = match rest.get(2) {
        // 1.x: the oscillator is unsmoothed unless asked; the averages warm up exponentially.
        None if cmo => Warmup::None,
        None => Warmup::Exponential,
        Some(Expr::Literal(Literal::String(w))) => match w.as_str() {
            "exponential" => Warmup::Exponential,
            "simple" => Warmup::Simple,
            "none" if cmo => Warmup::None,
            _ if cmo => {
                return Err(invalid(format!("{name} warmup type must be one of: 'none' 'exponential' 'simple'")));
            }
            _ => return Err(invalid(format!("{name} warmup type must be one of: 'exponential' 'simple'"))),
        },
        Some(_) => return Err(invalid(format!("{name} warmup type must be a string"))),
    };
    if cmo && warmup == Warmup::None && period < 2 {
        return Err(invalid(format!("{name} period must be greater than or equal to 2 without warmup")));
    }
    Ok(match name {
        "exponential_moving_average" => Transform::ExponentialMovingAverage { period, hold_period, warmup },
        "double_exponential_moving_average" => {
            Transform::DoubleExponentialMovingAverage { period, hold_period, warmup }
        }
        "triple_exponential_moving_average" => {
            Transform::TripleExponentialMovingAverage { period, hold_period, warmup }
        }
        "triple_exponential_derivative" => Transform::TripleExponentialDerivative { period, hold_period, warmup },
        "relative_strength_index" => Transform::RelativeStrengthIndex { period, hold_period, warmup },
        "chande_momentum_oscillator" => Transform::ChandeMomentumOscillator { period, hold_period, warmup },
        "kaufmans_efficiency_ratio" => Transform::KaufmansEfficiencyRatio { period, hold_period },
        _ => Transform::KaufmansAdaptiveMovingAverage { period, hold_period },
    })
}

fn is_multi(arg: Option<&Expr>) -> bool {
    matches!(arg, Some(Expr::Wildcard(_) | Expr::Regex(_)))
}

fn count_arg(name: &str, arg: &Expr) -> Result<usize> {
    match arg {
        Expr::Literal(Literal::Integer(n)) if *n > 0 => usize::try_from(*n).map_err(|_| invalid("count too large")),
        Expr::Literal(Literal::Integer(n)) => {
            Err(invalid(format!("{name}() N argument must be greater than 0, got {n}")))
        }
        other => Err(invalid(format!("expected integer argument in {name}(), got {other}"))),
    }
}

fn duration_arg(name: &str, arg: &Expr) -> Result<i64> {
    match arg {
        Expr::Literal(Literal::Duration(d)) if *d > 0 => Ok(*d),
        other => Err(invalid(format!("second argument to {name} must be a duration, got {other}"))),
    }
}

pub(super) fn literal_value(l: &Literal) -> Value {
    match l {
        Literal::Integer(n) | Literal::Duration(n) => Value::Integer(*n),
        Literal::Unsigned(n) => Value::Unsigned(*n),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::String(s.clone()),
        Literal::Boolean(b) => Value::Boolean(*b),
    }
}

/// Arithmetic and bitwise operators make field values; comparisons do not.
fn arith(op: BinaryOp) -> Option<BinaryOp> {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::BitAnd
            | BinaryOp::BitOr
            | BinaryOp::BitXor
    )
    .then_some(op)
}

/// 1.x's column name for a field without an alias: a name or function, or
/// the names in an expression joined by `_` (`a + b` is `a_b`).
fn default_name(expr: &Expr) -> String {
    fn names(expr: &Expr, out: &mut Vec<String>) {
        match expr {
            Expr::VarRef { name, .. } => out.push(name.clone()),
            Expr::Call { name, .. } => out.push(name.clone()),
            Expr::Binary { left, right, .. } => {
                names(left, out);
                names(right, out);
            }
            Expr::Paren(inner) | Expr::Negate(inner) => names(inner, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    names(expr, &mut out);
    out.join("_")
}
