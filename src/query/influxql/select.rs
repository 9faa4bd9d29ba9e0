//! Raw `SELECT`s: fields, tags and arithmetic on them, no functions yet.
//! One series per measurement (and per tag set under GROUP BY), rows in
//! time order, with 1.x's column naming and row rules.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr as DfExpr, Operator, binary_expr, lit};
use sediment_catalog::{ColumnKind, Database, Table};
use sediment_sql::influxql::ast::{BinaryOp, DataType as Cast, Dimension, Expr, SelectStatement};
use sediment_sql::influxql::condition::{arithmetic, column, literal};
use serde_json::Value;

use super::{Context, InfluxqlError, LazySession, Result, Series, measurements, regex};
use crate::query::QueryEngine;

/// One output column: its name and how it is computed.
struct Output {
    name: String,
    expr: DfExpr,
    /// Counts toward "this row has a value" (fields do, tags do not).
    is_field: bool,
}

/// The series of a raw SELECT.
///
/// # Errors
/// Functions (not yet supported), bad conditions or regexes, failed scans.
pub(super) async fn select(
    engine: &QueryEngine,
    db: &Database,
    statement: &SelectStatement,
    cx: &Context<'_>,
) -> Result<Vec<Series>> {
    if statement.fields.iter().any(|f| has_call(&f.expr)) {
        return Err(InfluxqlError::Unsupported("functions in SELECT".into()));
    }
    if statement.into.is_some() {
        return Err(InfluxqlError::Unsupported("SELECT ... INTO".into()));
    }
    let session = LazySession::new(engine, &db.name);
    let mut out = Vec::new();
    for table in measurements(db, &statement.from)? {
        out.extend(measurement_series(&session, table, statement, cx).await?);
    }
    let soffset = usize::try_from(statement.soffset.unwrap_or(0)).unwrap_or(usize::MAX);
    let slimit = statement.slimit.filter(|l| *l > 0).map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    Ok(out.into_iter().skip(soffset).take(slimit).collect())
}

fn has_call(e: &Expr) -> bool {
    match e {
        Expr::Call { .. } => true,
        Expr::Binary { left, right, .. } => has_call(left) || has_call(right),
        Expr::Paren(inner) | Expr::Negate(inner) => has_call(inner),
        _ => false,
    }
}

fn is_tag(table: &Table, name: &str) -> bool {
    table.column(name).is_some_and(|c| matches!(c.kind, ColumnKind::Tag))
}

fn is_field(table: &Table, name: &str) -> bool {
    table.column(name).is_some_and(|c| matches!(c.kind, ColumnKind::Field(_)))
}

/// The names a field expression reads, in order, for its default column name.
fn var_names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::VarRef { name, .. } => out.push(name.clone()),
        Expr::Binary { left, right, .. } => {
            var_names(left, out);
            var_names(right, out);
        }
        Expr::Paren(inner) | Expr::Negate(inner) => var_names(inner, out),
        _ => {}
    }
}

fn value_expr(e: &Expr, table: &Table) -> Result<DfExpr> {
    Ok(match e {
        Expr::VarRef { name, .. } if table.column(name).is_some() => column(name),
        Expr::VarRef { .. } => lit(ScalarValue::Null),
        Expr::Literal(l) => literal(l),
        Expr::Paren(inner) => value_expr(inner, table)?,
        Expr::Negate(inner) => DfExpr::Negative(Box::new(value_expr(inner, table)?)),
        Expr::Binary { left, op, right } => {
            // 1.x divides as floats: 5 / 2 is 2.5.
            if *op == BinaryOp::Div {
                let float =
                    |e: DfExpr| DfExpr::Cast(datafusion::logical_expr::Cast::new(Box::new(e), DataType::Float64));
                let (left, right) = (float(value_expr(left, table)?), float(value_expr(right, table)?));
                return Ok(binary_expr(left, Operator::Divide, right));
            }
            let op = arithmetic(*op)
                .map_err(|_| InfluxqlError::Unsupported(format!("{} in a field expression", op.as_str())))?;
            binary_expr(value_expr(left, table)?, op, value_expr(right, table)?)
        }
        other => return Err(InfluxqlError::Unsupported(format!("{other} in a field expression"))),
    })
}

/// The output columns; a wildcard leaves out the tags that GROUP BY turns into series.
fn outputs(table: &Table, statement: &SelectStatement, grouped: &[String]) -> Result<Vec<Output>> {
    let mut outputs = Vec::new();
    let sorted_columns = |want: &dyn Fn(&ColumnKind) -> bool| {
        let mut names: Vec<(&str, bool)> = table
            .columns
            .iter()
            .filter(|c| want(&c.kind) && !grouped.contains(&c.name))
            .map(|c| (c.name.as_str(), matches!(c.kind, ColumnKind::Field(_))))
            .collect();
        names.sort_unstable();
        names
    };
    for field in &statement.fields {
        match &field.expr {
            Expr::Wildcard(cast) => {
                let names = match cast {
                    Some(Cast::Tag) => sorted_columns(&|k| matches!(k, ColumnKind::Tag)),
                    Some(Cast::Field) => sorted_columns(&|k| matches!(k, ColumnKind::Field(_))),
                    _ => sorted_columns(&|k| !matches!(k, ColumnKind::Time)),
                };
                for (name, is_field) in names {
                    outputs.push(Output { name: name.to_owned(), expr: column(name), is_field });
                }
            }
            Expr::VarRef { name, data_type } => {
                // `x::tag` and `x::field` pick the kind; without one a field wins.
                let present = match data_type {
                    Some(Cast::Tag) => is_tag(table, name),
                    Some(Cast::Field | Cast::Float | Cast::Integer | Cast::Unsigned | Cast::String | Cast::Boolean) => {
                        is_field(table, name)
                    }
                    None => table.column(name).is_some(),
                };
                let expr = if present { column(name) } else { lit(ScalarValue::Null) };
                outputs.push(Output {
                    name: field.alias.clone().unwrap_or_else(|| name.clone()),
                    expr,
                    is_field: !is_tag(table, name),
                });
            }
            other => {
                let mut names = Vec::new();
                var_names(other, &mut names);
                let name = field.alias.clone().unwrap_or_else(|| names.join("_"));
                outputs.push(Output { name, expr: value_expr(other, table)?, is_field: true });
            }
        }
    }
    Ok(outputs)
}

/// The tag keys GROUP BY splits series by, sorted.
fn group_tags(table: &Table, dimensions: &[Dimension]) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    for dimension in dimensions {
        match dimension {
            Dimension::Tag(name) => tags.push(name.clone()),
            Dimension::Wildcard => {
                tags.extend(table.columns.iter().filter(|c| matches!(c.kind, ColumnKind::Tag)).map(|c| c.name.clone()));
            }
            Dimension::Regex(r) => {
                let re = regex(r)?;
                tags.extend(
                    table
                        .columns
                        .iter()
                        .filter(|c| matches!(c.kind, ColumnKind::Tag) && re.is_match(&c.name))
                        .map(|c| c.name.clone()),
                );
            }
            Dimension::Time { .. } => {
                return Err(InfluxqlError::Unsupported("GROUP BY time() without an aggregate".into()));
            }
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

async fn measurement_series(
    session: &LazySession<'_>,
    table: &Table,
    statement: &SelectStatement,
    cx: &Context<'_>,
) -> Result<Vec<Series>> {
    let tags = group_tags(table, &statement.dimensions)?;
    let outputs = outputs(table, statement, &tags)?;
    if !outputs.iter().any(|o| o.is_field && !matches!(o.expr, DfExpr::Literal(..))) {
        // No selected field exists here: 1.x returns nothing for this measurement.
        return Ok(Vec::new());
    }
    let mut frame = session.get().await?.table(&table.name).await?;
    if let Some(filter) = super::filter_expr(table, statement.condition.as_ref(), cx)? {
        frame = frame.filter(filter)?;
    }
    let has_value = outputs
        .iter()
        .filter(|o| o.is_field)
        .map(|o| o.expr.clone().is_not_null())
        .reduce(DfExpr::or)
        .unwrap_or_else(|| lit(true));
    frame = frame.filter(has_value)?;
    let mut select = vec![column("time").alias("__time")];
    for (i, tag) in tags.iter().enumerate() {
        let expr = if table.column(tag).is_some() { column(tag) } else { lit(ScalarValue::Utf8(None)) };
        select.push(expr.alias(format!("__tag{i}")));
    }
    for (i, output) in outputs.iter().enumerate() {
        select.push(output.expr.clone().alias(format!("__out{i}")));
    }
    let batches =
        frame.select(select)?.sort(vec![column("__time").sort(!statement.order_desc, true)])?.collect().await?;

    let mut by_tags: BTreeMap<Vec<String>, Vec<Vec<Value>>> = BTreeMap::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let key: Vec<String> = (0..tags.len())
                .map(|i| match json_value(batch, 1 + i, row, cx) {
                    Value::String(s) => s,
                    _ => String::new(),
                })
                .collect();
            let mut values = vec![json_value(batch, 0, row, cx)];
            values.extend((0..outputs.len()).map(|i| json_value(batch, 1 + tags.len() + i, row, cx)));
            by_tags.entry(key).or_default().push(values);
        }
    }
    let offset = usize::try_from(statement.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit = statement.limit.filter(|l| *l > 0).map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut columns = vec!["time".to_owned()];
    columns.extend(outputs.iter().map(|o| o.name.clone()));
    Ok(by_tags
        .into_iter()
        .filter_map(|(key, rows)| {
            let values: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
            (!values.is_empty()).then(|| Series {
                name: Some(table.name.clone()),
                tags: (!tags.is_empty()).then(|| tags.iter().cloned().zip(key).collect()),
                columns: columns.clone(),
                values,
            })
        })
        .collect())
}

/// A cell as 1.x's JSON has it: times per `epoch`, numbers as numbers.
fn json_value(batch: &RecordBatch, column: usize, row: usize, cx: &Context<'_>) -> Value {
    let array = batch.column(column);
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_owned()),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            cx.format_time(array.as_primitive::<TimestampNanosecondType>().value(row))
        }
        DataType::Dictionary(..) => {
            let dict = array.as_any_dictionary();
            let key = dict.normalized_keys()[row];
            match arrow::compute::cast(dict.values(), &DataType::Utf8) {
                Ok(values) => Value::String(values.as_string::<i32>().value(key).to_owned()),
                Err(_) => Value::Null,
            }
        }
        _ => match arrow::compute::cast(array, &DataType::Utf8) {
            Ok(text) => Value::String(text.as_string::<i32>().value(row).to_owned()),
            Err(_) => Value::Null,
        },
    }
}
