//! `SELECT ... INTO`: the result's rows as line protocol, so they are written
//! through the normal ingest path (validation, WAL, buffer). Each output
//! series' tags stay tags, every other column is a field, nulls are left out.

use sediment_catalog::CatalogState;
use sediment_sql::influxql::ast::{Measurement, MeasurementName};
use serde_json::Value;

use super::{Context, InfluxqlError, Result, Series};

/// Where INTO writes: the storage database and the measurement name (`None`:
/// keep each source measurement's name, as `:MEASUREMENT` asks).
///
/// # Errors
/// No database named or known, an unknown retention policy.
pub fn target(snapshot: &CatalogState, into: &Measurement, cx: &Context<'_>) -> Result<(String, Option<String>)> {
    let storage = cx.storage_database(snapshot, into)?;
    let name = match &into.name {
        MeasurementName::Name(n) if n == ":MEASUREMENT" => None,
        MeasurementName::Name(n) => Some(n.clone()),
        MeasurementName::Regex(_) => {
            return Err(InfluxqlError::Invalid("INTO needs a measurement name, not a regex".into()));
        }
    };
    Ok((storage, name))
}

/// The points of `series` (times in nanoseconds) as line protocol, and how many there are.
pub fn line_protocol(series: &[Series], measurement: Option<&str>) -> (String, u64) {
    let mut out = String::new();
    let mut points = 0;
    for s in series {
        let name = measurement.or(s.name.as_deref()).unwrap_or("result");
        let mut head = escape(name, &[',', ' ']);
        for (k, v) in s.tags.iter().flatten() {
            if !v.is_empty() {
                head.push(',');
                head.push_str(&escape(k, &[',', '=', ' ']));
                head.push('=');
                head.push_str(&escape(v, &[',', '=', ' ']));
            }
        }
        for row in &s.values {
            let Some(time) = row.first().and_then(Value::as_i64) else { continue };
            let fields: Vec<String> = s
                .columns
                .iter()
                .zip(row)
                .skip(1)
                .filter_map(|(column, value)| field(value).map(|v| format!("{}={v}", escape(column, &[',', '=', ' ']))))
                .collect();
            if fields.is_empty() {
                continue;
            }
            out.push_str(&head);
            out.push(' ');
            out.push_str(&fields.join(","));
            out.push(' ');
            out.push_str(&time.to_string());
            out.push('\n');
            points += 1;
        }
    }
    (out, points)
}

/// A field value in line protocol; `None` for null (and non-finite floats).
fn field(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().filter(|f| f.is_finite())?;
            // `{f:?}` keeps a decimal point, so a whole float stays a float.
            format!("{f:?}")
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) => format!("{i}i"),
            None => format!("{}u", n.as_u64()?),
        },
        Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
    })
}

fn escape(s: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_points_with_typed_fields_and_no_nulls() {
        let series = Series {
            name: Some("cpu".into()),
            tags: Some([("host".to_owned(), "a b".to_owned())].into_iter().collect()),
            columns: vec!["time".into(), "mean".into(), "n".into(), "s".into()],
            values: vec![
                vec![Value::from(10), Value::from(2.0), Value::from(3), Value::from("x\"y")],
                vec![Value::from(20), Value::Null, Value::Null, Value::Null],
            ],
        };
        let (lp, n) = line_protocol(&[series], Some("cpu_5m"));
        assert_eq!(n, 1);
        assert_eq!(lp, "cpu_5m,host=a\\ b mean=2.0,n=3i,s=\"x\\\"y\" 10\n");
    }
}
