//! InfluxQL conditions as DataFusion expressions over one measurement.
//!
//! A name the measurement does not have is NULL there (so `host = 'a'` holds
//! for no row of a measurement without a `host` tag). `time` comparisons with
//! RFC3339 strings, integers (nanoseconds), durations and `now()` arithmetic
//! become timestamp comparisons.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr as DfExpr, Operator, binary_expr, col, lit};

use super::ast::{BinaryOp, Expr, Literal};

/// Why a condition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("invalid condition: {0}")]
    Invalid(String),
    #[error("missing required parameter \"{0}\"")]
    MissingParam(String),
}

/// What a condition is evaluated against.
pub struct Scope<'a> {
    /// Whether the measurement has this column.
    pub has_column: &'a dyn Fn(&str) -> bool,
    /// Whether this column is a tag (a missing tag compares as '' in 1.x).
    pub is_tag: &'a dyn Fn(&str) -> bool,
    /// Bound parameters (`params=` of the request), by name.
    pub params: &'a dyn Fn(&str) -> Option<Literal>,
    /// Nanoseconds since the epoch at which the query started.
    pub now: i64,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").field("now", &self.now).finish_non_exhaustive()
    }
}

/// `expr` as a boolean DataFusion expression.
///
/// # Errors
/// A part that is no condition, a `time` value that is no time, an unbound parameter.
pub fn condition(expr: &Expr, scope: &Scope<'_>) -> Result<DfExpr, ConditionError> {
    Ok(match expr {
        Expr::Paren(inner) => condition(inner, scope)?,
        Expr::Binary { left, op: op @ (BinaryOp::And | BinaryOp::Or), right } => {
            let op = if *op == BinaryOp::And { Operator::And } else { Operator::Or };
            binary_expr(condition(left, scope)?, op, condition(right, scope)?)
        }
        Expr::Binary { left, op, right } if is_time(left) || is_time(right) => {
            let (value, op) = if is_time(left) { (right, *op) } else { (left, flip(*op)) };
            let nanos = time_value(value, scope)?;
            let ts = lit(ScalarValue::TimestampNanosecond(Some(nanos), None));
            binary_expr(col("time"), comparison(op)?, ts)
        }
        Expr::Binary { left, op: op @ (BinaryOp::EqRegex | BinaryOp::NotEqRegex), right } => {
            let Expr::Regex(pattern) = right.as_ref() else {
                return Err(ConditionError::Invalid(format!("{op:?} needs a regex on its right", op = op.as_str())));
            };
            let subject = match left.as_ref() {
                Expr::VarRef { name, .. } if !(scope.has_column)(name) => lit(ScalarValue::Utf8(None)),
                other => operand(other, scope)?,
            };
            let matched = binary_expr(subject.clone(), Operator::RegexMatch, lit(pattern.clone()));
            if *op == BinaryOp::EqRegex {
                matched
            } else {
                // A missing tag is '' in 1.x, which `!~ /./` must match.
                binary_expr(subject.clone(), Operator::RegexNotMatch, lit(pattern.clone())).or(subject.is_null())
            }
        }
        Expr::Binary { left, op, right } => {
            if matches!(op, BinaryOp::Eq | BinaryOp::NotEq)
                && let Some((tag, text)) = tag_and_text(left, right, scope)?
            {
                return Ok(tag_equality(tag, *op == BinaryOp::Eq, &text, scope));
            }
            let op = comparison(*op).or_else(|_| arithmetic(*op))?;
            binary_expr(operand(left, scope)?, op, operand(right, scope)?)
        }
        Expr::Literal(Literal::Boolean(b)) => lit(*b),
        other => return Err(ConditionError::Invalid(format!("{other} is not a condition"))),
    })
}

/// `tag = 'text'` (either way round; a parameter may hold the text), where
/// the name is a tag or no column at all.
fn tag_and_text<'e>(
    left: &'e Expr,
    right: &'e Expr,
    scope: &Scope<'_>,
) -> Result<Option<(&'e str, String)>, ConditionError> {
    let text = |e: &Expr| -> Result<Option<String>, ConditionError> {
        Ok(match e {
            Expr::Literal(Literal::String(s)) => Some(s.clone()),
            Expr::Param(p) => match (scope.params)(p) {
                Some(Literal::String(s)) => Some(s),
                Some(_) => None,
                None => return Err(ConditionError::MissingParam(p.clone())),
            },
            _ => None,
        })
    };
    let tag = |e: &'e Expr| match e {
        Expr::VarRef { name, .. } if !(scope.has_column)(name) || (scope.is_tag)(name) => Some(name.as_str()),
        _ => None,
    };
    Ok(match (tag(left), tag(right)) {
        (Some(t), _) => text(right)?.map(|s| (t, s)),
        (None, Some(t)) => text(left)?.map(|s| (t, s)),
        (None, None) => None,
    })
}

/// 1.x compares a missing tag as '': `tag = ''` matches it, `tag != 'x'` too.
fn tag_equality(tag: &str, equal: bool, text: &str, scope: &Scope<'_>) -> DfExpr {
    if !(scope.has_column)(tag) {
        // Every row lacks this tag.
        return lit(equal == text.is_empty());
    }
    let compared = binary_expr(column(tag), if equal { Operator::Eq } else { Operator::NotEq }, lit(text.to_owned()));
    match (equal, text.is_empty()) {
        (true, false) => compared,
        (true, true) | (false, false) => compared.or(column(tag).is_null()),
        (false, true) => compared.and(column(tag).is_not_null()),
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::VarRef { name, .. } if name.eq_ignore_ascii_case("time"))
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

fn comparison(op: BinaryOp) -> Result<Operator, ConditionError> {
    Ok(match op {
        BinaryOp::Eq => Operator::Eq,
        BinaryOp::NotEq => Operator::NotEq,
        BinaryOp::Lt => Operator::Lt,
        BinaryOp::LtEq => Operator::LtEq,
        BinaryOp::Gt => Operator::Gt,
        BinaryOp::GtEq => Operator::GtEq,
        other => return Err(ConditionError::Invalid(format!("{} is not a comparison", other.as_str()))),
    })
}

/// The DataFusion operator of InfluxQL arithmetic.
///
/// # Errors
/// `op` is a comparison or logical operator.
pub fn arithmetic(op: BinaryOp) -> Result<Operator, ConditionError> {
    Ok(match op {
        BinaryOp::Add => Operator::Plus,
        BinaryOp::Sub => Operator::Minus,
        BinaryOp::Mul => Operator::Multiply,
        BinaryOp::Div => Operator::Divide,
        BinaryOp::Mod => Operator::Modulo,
        BinaryOp::BitAnd => Operator::BitwiseAnd,
        BinaryOp::BitOr => Operator::BitwiseOr,
        BinaryOp::BitXor => Operator::BitwiseXor,
        other => return Err(ConditionError::Invalid(format!("unexpected {}", other.as_str()))),
    })
}

pub fn literal(l: &Literal) -> DfExpr {
    match l {
        Literal::Integer(n) => lit(*n),
        Literal::Unsigned(n) => lit(*n),
        Literal::Float(n) => lit(*n),
        Literal::String(s) => lit(s.clone()),
        Literal::Boolean(b) => lit(*b),
        Literal::Duration(d) => lit(*d),
    }
}

/// A column of the measurement, by its exact (case-sensitive) name.
pub fn column(name: &str) -> DfExpr {
    col(datafusion::common::Column::new_unqualified(name))
}

fn operand(e: &Expr, scope: &Scope<'_>) -> Result<DfExpr, ConditionError> {
    Ok(match e {
        Expr::VarRef { name, .. } if (scope.has_column)(name) => column(name),
        // Untyped, so that it compares with numbers and booleans as well.
        Expr::VarRef { .. } => lit(ScalarValue::Null),
        Expr::Literal(l) => literal(l),
        Expr::Param(p) => literal(&(scope.params)(p).ok_or_else(|| ConditionError::MissingParam(p.clone()))?),
        Expr::Paren(inner) => operand(inner, scope)?,
        Expr::Binary { left, op, right } => {
            binary_expr(operand(left, scope)?, arithmetic(*op).or_else(|_| comparison(*op))?, operand(right, scope)?)
        }
        Expr::Negate(inner) => DfExpr::Negative(Box::new(operand(inner, scope)?)),
        other => return Err(ConditionError::Invalid(format!("{other} cannot be compared"))),
    })
}

/// A point in time in a `time` comparison, in nanoseconds.
pub fn time_value(e: &Expr, scope: &Scope<'_>) -> Result<i64, ConditionError> {
    let invalid = |what: String| ConditionError::Invalid(what);
    match e {
        Expr::Literal(Literal::String(s)) => parse_time(s).ok_or_else(|| {
            invalid("invalid operation: time and *influxql.StringLiteral are not compatible".to_owned())
        }),
        Expr::Literal(Literal::Integer(n)) => Ok(*n),
        Expr::Literal(Literal::Duration(d)) => Ok(*d),
        Expr::Param(p) => {
            let value = (scope.params)(p).ok_or_else(|| ConditionError::MissingParam(p.clone()))?;
            time_value(&Expr::Literal(value), scope)
        }
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(scope.now),
        Expr::Paren(inner) => time_value(inner, scope),
        Expr::Binary { left, op: BinaryOp::Add, right } => Ok(time_value(left, scope)? + time_value(right, scope)?),
        Expr::Binary { left, op: BinaryOp::Sub, right } => Ok(time_value(left, scope)? - time_value(right, scope)?),
        other => Err(invalid(format!("invalid time expression {other}"))),
    }
}

/// RFC3339 (with or without a zone; without means UTC) or a bare date.
fn parse_time(s: &str) -> Option<i64> {
    let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return nanos(t.with_timezone(&chrono::Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return nanos(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| nanos(t.and_utc()))
}

/// The time range a condition's top-level `AND`s put on `time`: inclusive
/// nanosecond bounds, `None` where a side is open. Comparisons under an `OR`
/// do not narrow the range.
///
/// # Errors
/// A `time` comparison whose value is no time.
pub fn time_bounds(expr: &Expr, scope: &Scope<'_>) -> Result<(Option<i64>, Option<i64>), ConditionError> {
    let mut bounds = (None, None);
    narrow(expr, scope, &mut bounds)?;
    Ok(bounds)
}

fn narrow(expr: &Expr, scope: &Scope<'_>, bounds: &mut (Option<i64>, Option<i64>)) -> Result<(), ConditionError> {
    match expr {
        Expr::Paren(inner) => narrow(inner, scope, bounds),
        Expr::Binary { left, op: BinaryOp::And, right } => {
            narrow(left, scope, bounds)?;
            narrow(right, scope, bounds)
        }
        Expr::Binary { left, op, right } if is_time(left) || is_time(right) => {
            let (value, op) = if is_time(left) { (right, *op) } else { (left, flip(*op)) };
            let t = time_value(value, scope)?;
            let lower = |b: &mut Option<i64>, v: i64| *b = Some(b.map_or(v, |o: i64| o.max(v)));
            let upper = |b: &mut Option<i64>, v: i64| *b = Some(b.map_or(v, |o: i64| o.min(v)));
            match op {
                BinaryOp::Gt => lower(&mut bounds.0, t.saturating_add(1)),
                BinaryOp::GtEq => lower(&mut bounds.0, t),
                BinaryOp::Lt => upper(&mut bounds.1, t.saturating_sub(1)),
                BinaryOp::LtEq => upper(&mut bounds.1, t),
                BinaryOp::Eq => {
                    lower(&mut bounds.0, t);
                    upper(&mut bounds.1, t);
                }
                _ => {}
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
