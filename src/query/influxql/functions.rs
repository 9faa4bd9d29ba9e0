//! InfluxQL's functions over plain values, with InfluxDB 1.x semantics: the
//! aggregates and selectors that reduce one bucket of points, the transforms
//! that run over a series' sequence of values, the math functions and the
//! arithmetic of field expressions.
//!
//! The SELECT evaluator (`select/eval.rs`) decides which points go where;
//! this module only computes. It knows nothing of Arrow or DataFusion, so
//! every rule here is a unit test away.
//!
//! Types follow 1.x: `count` is an integer, `mean`/`median`/`stddev`/
//! `integral` and the oscillators are floats, the rest keep their input's
//! type; integer arithmetic wraps like Go's, and integer division gives a
//! float.

use std::cmp::Ordering;

use sediment_sql::influxql::ast::BinaryOp;

mod aggregate;
mod transform;

#[cfg(test)]
mod tests;

pub(crate) use aggregate::{Aggregate, Point, Selected, aggregate, integral_windows, top_bottom};
pub(crate) use transform::{Transform, Warmup, transform};

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
}

impl Value {
    /// The value as a float, when it is a number.
    #[must_use]
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Float(f) => Some(*f),
            Self::Integer(i) => Some(*i as f64),
            Self::Unsigned(u) => Some(*u as f64),
            Self::String(_) | Self::Boolean(_) => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::Float(_) => "float",
            Self::Integer(_) => "integer",
            Self::Unsigned(_) => "unsigned",
            Self::String(_) => "string",
            Self::Boolean(_) => "boolean",
        }
    }

    /// A float result, or nothing when it is not a number JSON can carry.
    fn finite(f: f64) -> Option<Self> {
        f.is_finite().then_some(Self::Float(f))
    }
}

/// Orders values of one field: numbers numerically (across number types),
/// `false` before `true`, strings bytewise; different kinds by kind.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::Unsigned(x), Value::Unsigned(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => kind_rank(a).cmp(&kind_rank(b)),
        },
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Boolean(_) => 0,
        Value::Float(_) | Value::Integer(_) | Value::Unsigned(_) => 1,
        Value::String(_) => 2,
    }
}

/// A function refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FunctionError(String);

impl FunctionError {
    fn unsupported(function: &str, value: &Value) -> Self {
        Self(format!("unsupported {function} iterator type: {}", value.type_name()))
    }
}

const MATH: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "exp", "floor", "ln", "log", "log2", "log10", "pow",
    "round", "sin", "sqrt", "tan",
];

/// Whether `name` is a math function (applied row by row, not an aggregate).
#[must_use]
pub(crate) fn is_math(name: &str) -> bool {
    MATH.contains(&name)
}

/// A math function over one row's arguments; a missing or non-numeric
/// argument gives no value, as in 1.x.
///
/// # Errors
/// The wrong number of arguments.
pub(crate) fn math(name: &str, args: &[Option<Value>]) -> Result<Option<Value>, FunctionError> {
    let arity = if matches!(name, "atan2" | "log" | "pow") { 2 } else { 1 };
    if args.len() != arity {
        return Err(FunctionError(format!(
            "invalid number of arguments for {name}, expected {arity}, got {}",
            args.len()
        )));
    }
    let Some(x) = &args[0] else { return Ok(None) };
    if arity == 2 {
        let (Some(a), Some(b)) = (x.as_f64(), args[1].as_ref().and_then(Value::as_f64)) else { return Ok(None) };
        return Ok(Value::finite(match name {
            "atan2" => a.atan2(b),
            "log" => a.ln() / b.ln(),
            _ => a.powf(b),
        }));
    }
    // abs, ceil, floor and round keep integers as they are (abs of one negated).
    let keeps_integers = matches!(name, "abs" | "ceil" | "floor" | "round");
    match x {
        Value::Integer(i) if keeps_integers => {
            Ok(Some(Value::Integer(if name == "abs" { i.wrapping_abs() } else { *i })))
        }
        Value::Unsigned(_) if keeps_integers => Ok(Some(x.clone())),
        _ => {
            let Some(f) = x.as_f64() else { return Ok(None) };
            Ok(Value::finite(match name {
                "abs" => f.abs(),
                "acos" => f.acos(),
                "asin" => f.asin(),
                "atan" => f.atan(),
                "ceil" => f.ceil(),
                "cos" => f.cos(),
                "exp" => f.exp(),
                "floor" => f.floor(),
                "ln" => f.ln(),
                "log2" => f.log2(),
                "log10" => f.log10(),
                "round" => f.round(),
                "sin" => f.sin(),
                "sqrt" => f.sqrt(),
                _ => f.tan(),
            }))
        }
    }
}

/// `left op right` with 1.x's rules: nothing when a side is missing or the
/// types do not mix; integers wrap; division (and modulo) by zero gives 0;
/// integer division gives a float; bitwise operators take integers or
/// booleans; comparisons are not arithmetic (nothing).
#[must_use]
pub(crate) fn binary(op: BinaryOp, left: Option<&Value>, right: Option<&Value>) -> Option<Value> {
    use Value::{Boolean, Float, Integer, Unsigned};
    let (left, right) = (left?, right?);
    match (left, right) {
        (Integer(a), Integer(b)) => Some(match op {
            BinaryOp::Add => Integer(a.wrapping_add(*b)),
            BinaryOp::Sub => Integer(a.wrapping_sub(*b)),
            BinaryOp::Mul => Integer(a.wrapping_mul(*b)),
            BinaryOp::Div if *b == 0 => Float(0.0),
            BinaryOp::Div => Float(*a as f64 / *b as f64),
            BinaryOp::Mod if *b == 0 => Integer(0),
            BinaryOp::Mod => Integer(a.wrapping_rem(*b)),
            BinaryOp::BitAnd => Integer(a & b),
            BinaryOp::BitOr => Integer(a | b),
            BinaryOp::BitXor => Integer(a ^ b),
            _ => return None,
        }),
        (Unsigned(a), Unsigned(b)) => Some(match op {
            BinaryOp::Add => Unsigned(a.wrapping_add(*b)),
            BinaryOp::Sub => Unsigned(a.wrapping_sub(*b)),
            BinaryOp::Mul => Unsigned(a.wrapping_mul(*b)),
            BinaryOp::Div if *b == 0 => Float(0.0),
            BinaryOp::Div => Float(*a as f64 / *b as f64),
            BinaryOp::Mod if *b == 0 => Unsigned(0),
            BinaryOp::Mod => Unsigned(a % b),
            BinaryOp::BitAnd => Unsigned(a & b),
            BinaryOp::BitOr => Unsigned(a | b),
            BinaryOp::BitXor => Unsigned(a ^ b),
            _ => return None,
        }),
        (Boolean(a), Boolean(b)) => match op {
            BinaryOp::BitAnd => Some(Boolean(a & b)),
            BinaryOp::BitOr => Some(Boolean(a | b)),
            BinaryOp::BitXor => Some(Boolean(a ^ b)),
            _ => None,
        },
        _ => {
            let (a, b) = (left.as_f64()?, right.as_f64()?);
            match op {
                BinaryOp::Add => Value::finite(a + b),
                BinaryOp::Sub => Value::finite(a - b),
                BinaryOp::Mul => Value::finite(a * b),
                BinaryOp::Div | BinaryOp::Mod if b == 0.0 => Some(Float(0.0)),
                BinaryOp::Div => Value::finite(a / b),
                BinaryOp::Mod => Value::finite(a % b),
                _ => None,
            }
        }
    }
}
