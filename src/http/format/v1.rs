//! InfluxDB 1.x response bodies: `{"results":[...]}` as JSON (compact or
//! indented), as chunks (one JSON object per line, a series cut every
//! `chunk_size` rows), and as CSV; and InfluxQL series as one record batch
//! for `/api/v3/query_influxql`, whose formats are the SQL endpoint's.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Value, json};

use crate::query::influxql::Series;

/// What one statement answered: its series, or the error 1.x puts in its result.
#[derive(Debug)]
pub(crate) struct StatementResult {
    pub id: usize,
    pub outcome: Result<Vec<Series>, String>,
}

fn series_json(series: &Series, values: &[Vec<Value>], partial: bool) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(name) = &series.name {
        object.insert("name".into(), json!(name));
    }
    if let Some(tags) = &series.tags {
        object.insert("tags".into(), json!(tags));
    }
    object.insert("columns".into(), json!(series.columns));
    // 1.x leaves out what is empty.
    if !values.is_empty() {
        object.insert("values".into(), json!(values));
    }
    if partial {
        object.insert("partial".into(), Value::Bool(true));
    }
    Value::Object(object)
}

fn result_json(result: &StatementResult) -> Value {
    match &result.outcome {
        Ok(series) if series.is_empty() => json!({ "statement_id": result.id }),
        Ok(series) => json!({
            "statement_id": result.id,
            "series": series.iter().map(|s| series_json(s, &s.values, false)).collect::<Vec<_>>(),
        }),
        Err(message) => json!({ "statement_id": result.id, "error": message }),
    }
}

/// The whole response; `pretty` indents it as 1.x's `pretty=true` does.
pub(crate) fn json_body(results: &[StatementResult], pretty: bool) -> Vec<u8> {
    let body = json!({ "results": results.iter().map(result_json).collect::<Vec<_>>() });
    encode(&body, pretty)
}

fn encode(value: &Value, pretty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let written = if pretty {
        let mut serializer =
            serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
        value.serialize(&mut serializer)
    } else {
        serde_json::to_writer(&mut out, value)
    };
    // Serializing a `Value` into memory cannot fail.
    debug_assert!(written.is_ok());
    out
}

/// One statement's result as 1.x's chunks: a response per series, and a
/// series longer than `chunk_size` rows cut into several, all but its last
/// piece marked `partial`; every chunk but the statement's last has a
/// `partial` result (more of it follows). Each chunk ends with a newline.
pub(crate) fn chunks(result: &StatementResult, chunk_size: usize, pretty: bool) -> Vec<Vec<u8>> {
    let line = |result: Value| {
        let mut bytes = encode(&json!({ "results": [result] }), pretty);
        bytes.push(b'\n');
        bytes
    };
    let series = match &result.outcome {
        Ok(series) if !series.is_empty() => series,
        _ => return vec![line(result_json(result))],
    };
    let mut pieces: Vec<Value> = Vec::new();
    for s in series {
        let cut: Vec<&[Vec<Value>]> =
            if s.values.is_empty() { vec![&s.values[..]] } else { s.values.chunks(chunk_size.max(1)).collect() };
        let last = cut.len() - 1;
        pieces.extend(cut.into_iter().enumerate().map(|(i, values)| series_json(s, values, i < last)));
    }
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut object = json!({ "statement_id": result.id, "series": [piece] });
            if i < last {
                object["partial"] = Value::Bool(true);
            }
            line(object)
        })
        .collect()
}

/// 1.x's CSV: `name,tags,<columns>` headers, one row per value row with the
/// tags as `k=v,k=v`, times as integers, a blank line between statements.
pub(crate) fn csv_body(results: &[StatementResult]) -> String {
    let mut out = String::new();
    let mut wrote_any = false;
    for result in results {
        let series = match &result.outcome {
            Err(message) => {
                if wrote_any {
                    out.push('\n');
                }
                csv_row(&mut out, ["error".to_owned()]);
                csv_row(&mut out, [message.clone()]);
                wrote_any = true;
                continue;
            }
            Ok(series) if series.is_empty() => continue,
            Ok(series) => series,
        };
        if wrote_any {
            out.push('\n');
        }
        let mut header: Option<&[String]> = None;
        for s in series {
            if header != Some(&s.columns[..]) {
                csv_row(&mut out, ["name".to_owned(), "tags".to_owned()].into_iter().chain(s.columns.iter().cloned()));
                header = Some(&s.columns);
            }
            let tags = s
                .tags
                .iter()
                .flatten()
                // A series key leaves out the tags it does not have.
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{}={}", escape_tag(k), escape_tag(v)))
                .collect::<Vec<_>>()
                .join(",");
            for row in &s.values {
                let head = [s.name.clone().unwrap_or_default(), tags.clone()];
                csv_row(&mut out, head.into_iter().chain(row.iter().map(csv_value)));
            }
        }
        wrote_any = true;
    }
    out
}

fn escape_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn csv_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            // Plain decimal, shortest round-trip, as Go's FormatFloat(v, 'f', -1, 64).
            (None, None, Some(f)) => format!("{f}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// One CSV record, quoted where Go's encoding/csv quotes.
fn csv_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let quote = !field.is_empty()
            && (field.contains([',', '"', '\r', '\n']) || field.starts_with(char::is_whitespace) || field == "\\.");
        if quote {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push('\n');
}

/// Every series of a statement as one table, the way InfluxDB 3 answers
/// InfluxQL: `iox::measurement`, `time`, the GROUP BY tags, then the columns.
/// Times must be integers in nanoseconds (`epoch=ns`).
///
/// # Errors
/// Arrow refuses the columns (it does not for these types).
pub(crate) fn record_batch(series: &[Series]) -> Result<RecordBatch, ArrowError> {
    let mut tag_keys: Vec<&str> =
        series.iter().flat_map(|s| s.tags.iter().flatten().map(|(k, _)| k.as_str())).collect();
    tag_keys.sort_unstable();
    tag_keys.dedup();
    let mut value_columns: Vec<&str> = Vec::new();
    for name in series.iter().flat_map(|s| s.columns.iter().map(String::as_str)) {
        if name != "time" && !value_columns.contains(&name) && !tag_keys.contains(&name) {
            value_columns.push(name);
        }
    }
    let has_time = series.iter().any(|s| s.columns.iter().any(|c| c == "time"));
    let rows: usize = series.iter().map(|s| s.values.len()).sum();

    let mut fields = vec![Field::new("iox::measurement", DataType::Utf8, false)];
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut names = StringBuilder::new();
    for s in series {
        for _ in &s.values {
            names.append_value(s.name.as_deref().unwrap_or_default());
        }
    }
    arrays.push(Arc::new(names.finish()));
    if has_time {
        let mut times = TimestampNanosecondBuilder::with_capacity(rows);
        for s in series {
            let at = s.columns.iter().position(|c| c == "time");
            for row in &s.values {
                times.append_option(at.and_then(|i| row[i].as_i64()));
            }
        }
        fields.push(Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, None), true));
        arrays.push(Arc::new(times.finish()));
    }
    for key in &tag_keys {
        let mut tags = StringBuilder::new();
        for s in series {
            // A series without the tag has it as '' in 1.x's terms: null in a table.
            let value = s.tags.as_ref().and_then(|t| t.get(*key)).filter(|v| !v.is_empty());
            for _ in &s.values {
                tags.append_option(value);
            }
        }
        fields.push(Field::new(*key, DataType::Utf8, true));
        arrays.push(Arc::new(tags.finish()));
    }
    for name in value_columns {
        let cells: Vec<Option<&Value>> = series
            .iter()
            .flat_map(|s| {
                let at = s.columns.iter().position(|c| c == name);
                s.values.iter().map(move |row| at.map(|i| &row[i]).filter(|v| !v.is_null()))
            })
            .collect();
        let (data_type, array) = column(&cells);
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// A column of JSON cells in the narrowest Arrow type that holds them all.
fn column(cells: &[Option<&Value>]) -> (DataType, ArrayRef) {
    let present = || cells.iter().flatten();
    if present().all(|v| v.is_boolean()) && present().next().is_some() {
        let mut b = BooleanBuilder::new();
        cells.iter().for_each(|c| b.append_option(c.and_then(|v| v.as_bool())));
        return (DataType::Boolean, Arc::new(b.finish()));
    }
    if present().all(|v| v.is_i64()) {
        let mut b = Int64Builder::new();
        cells.iter().for_each(|c| b.append_option(c.and_then(|v| v.as_i64())));
        return (DataType::Int64, Arc::new(b.finish()));
    }
    if present().all(|v| v.is_u64()) {
        let mut b = UInt64Builder::new();
        cells.iter().for_each(|c| b.append_option(c.and_then(|v| v.as_u64())));
        return (DataType::UInt64, Arc::new(b.finish()));
    }
    if present().all(|v| v.is_number()) {
        let mut b = Float64Builder::new();
        cells.iter().for_each(|c| b.append_option(c.and_then(|v| v.as_f64())));
        return (DataType::Float64, Arc::new(b.finish()));
    }
    let mut b = StringBuilder::new();
    for cell in cells {
        b.append_option(cell.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    (DataType::Utf8, Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn cpu() -> Series {
        Series {
            name: Some("cpu".into()),
            tags: Some(BTreeMap::from([("host".to_owned(), "a b".to_owned()), ("zone".to_owned(), String::new())])),
            columns: vec!["time".into(), "v".into(), "s".into()],
            values: vec![vec![json!(1), json!(1.5), json!("x,y")], vec![json!(2), json!(2.0), Value::Null]],
        }
    }

    #[test]
    fn csv_has_1x_headers_tags_and_quoting() {
        let results = [
            StatementResult { id: 0, outcome: Ok(vec![cpu()]) },
            StatementResult { id: 1, outcome: Err("boom".into()) },
        ];
        assert_eq!(
            csv_body(&results),
            "name,tags,time,v,s\ncpu,host=a\\ b,1,1.5,\"x,y\"\ncpu,host=a\\ b,2,2,\n\nerror\nboom\n"
        );
    }

    fn chunks_of(result: &StatementResult, size: usize) -> Vec<Value> {
        chunks(result, size, false).iter().map(|c| serde_json::from_slice(c).unwrap()).collect()
    }

    #[test]
    fn chunks_cut_series_and_mark_all_but_the_last_partial() {
        let result = StatementResult { id: 3, outcome: Ok(vec![cpu()]) };
        let chunks: Vec<Value> = chunks(&result, 1, false)
            .iter()
            .map(|c| {
                assert_eq!(c.last(), Some(&b'\n'));
                serde_json::from_slice(c).unwrap()
            })
            .collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["results"][0]["partial"], true);
        assert_eq!(chunks[0]["results"][0]["series"][0]["partial"], true);
        assert_eq!(chunks[0]["results"][0]["series"][0]["values"], json!([[1, 1.5, "x,y"]]));
        assert!(chunks[1]["results"][0].get("partial").is_none());
        assert_eq!(chunks[1]["results"][0]["statement_id"], 3);
        // Two whole series: the first's result is partial (more follows), its series is not.
        let two = StatementResult { id: 0, outcome: Ok(vec![cpu(), cpu()]) };
        let chunks: Vec<Value> = chunks_of(&two, 10);
        assert_eq!(chunks[0]["results"][0]["partial"], true);
        assert!(chunks[0]["results"][0]["series"][0].get("partial").is_none());
        assert!(chunks[1]["results"][0].get("partial").is_none());
    }

    #[test]
    fn empty_series_leave_out_values_like_1x() {
        let users = Series { name: None, tags: None, columns: vec!["user".into(), "admin".into()], values: vec![] };
        let body = json_body(&[StatementResult { id: 0, outcome: Ok(vec![users]) }], false);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, json!({"results": [{"statement_id": 0, "series": [{"columns": ["user", "admin"]}]}]}));
    }

    #[test]
    fn series_become_one_table_with_measurement_tags_and_typed_columns() {
        let batch = record_batch(&[cpu()]).unwrap();
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["iox::measurement", "time", "host", "zone", "v", "s"]);
        assert_eq!(batch.column(3).null_count(), 2, "an empty tag is null");
        assert_eq!(batch.column(4).data_type(), &DataType::Float64);
        assert_eq!(batch.num_rows(), 2);
    }
}
