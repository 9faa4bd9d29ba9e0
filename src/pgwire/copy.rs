//! `COPY (query) TO STDOUT` in Postgres' text and CSV formats, one CopyData
//! message per row (pgwire counts messages for the `COPY n` tag), streamed
//! batch by batch.

use std::fmt::Write as _;

use ::pgwire::error::PgWireResult;
use ::pgwire::messages::copy::CopyData;
use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt, stream};
use sediment_sql::CopyFormat;

use crate::pgwire::error;

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// The rows of `batches` as CopyData messages in `format`.
pub(crate) fn copy_rows(
    batches: SendableRecordBatchStream,
    format: CopyFormat,
) -> impl Stream<Item = PgWireResult<CopyData>> + Send + 'static {
    let header = format.header.then(|| header_line(&batches, &format));
    let mut header = header;
    batches.flat_map(move |batch| {
        let rows: Vec<PgWireResult<CopyData>> = match batch {
            Ok(batch) => match encode_batch(&batch, &format) {
                Ok(mut lines) => {
                    if let (Some(h), Some(first)) = (header.take(), lines.first_mut()) {
                        first.insert_str(0, &h);
                    }
                    lines.into_iter().map(|l| Ok(CopyData::new(Bytes::from(l)))).collect()
                }
                Err(e) => vec![Err(error::datafusion_error(e.into()))],
            },
            Err(e) => vec![Err(error::datafusion_error(e))],
        };
        stream::iter(rows)
    })
}

fn header_line(batches: &SendableRecordBatchStream, format: &CopyFormat) -> String {
    let schema = batches.schema();
    let mut line = String::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if i > 0 {
            line.push(format.delimiter);
        }
        push_value(&mut line, field.name(), format);
    }
    line.push('\n');
    line
}

/// One line per row.
fn encode_batch(batch: &RecordBatch, format: &CopyFormat) -> Result<Vec<String>, arrow::error::ArrowError> {
    let options = FormatOptions::default()
        .with_null(&format.null)
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
    let formatters =
        batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
    let mut lines = Vec::with_capacity(batch.num_rows());
    let mut value = String::new();
    for row in 0..batch.num_rows() {
        let mut line = String::new();
        for (i, (column, formatter)) in batch.columns().iter().zip(&formatters).enumerate() {
            if i > 0 {
                line.push(format.delimiter);
            }
            if column.is_null(row) {
                line.push_str(&format.null);
                continue;
            }
            value.clear();
            if let DataType::Boolean = column.data_type() {
                // Postgres spells booleans t and f in COPY output.
                let b = column.as_any().downcast_ref::<arrow::array::BooleanArray>().is_some_and(|a| a.value(row));
                value.push(if b { 't' } else { 'f' });
            } else {
                write!(value, "{}", formatter.value(row))
                    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            }
            push_value(&mut line, &value, format);
        }
        line.push('\n');
        lines.push(line);
    }
    Ok(lines)
}

fn push_value(line: &mut String, value: &str, format: &CopyFormat) {
    if format.csv {
        let needs_quotes = value.is_empty() && format.null.is_empty()
            || value == format.null
            || value.contains([format.delimiter, '"', '\n', '\r']);
        if needs_quotes {
            line.push('"');
            line.push_str(&value.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(value);
        }
    } else {
        for c in value.chars() {
            match c {
                '\\' => line.push_str("\\\\"),
                '\n' => line.push_str("\\n"),
                '\r' => line.push_str("\\r"),
                '\t' => line.push_str("\\t"),
                c if c == format.delimiter => {
                    line.push('\\');
                    line.push(c);
                }
                c => line.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a\tb"), None, Some("x,\"y\"")])),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(2.0), None])),
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            ],
        )
        .expect("batch")
    }

    fn text() -> CopyFormat {
        CopyFormat { csv: false, header: false, delimiter: '\t', null: "\\N".into() }
    }

    #[test]
    fn text_format_escapes_and_spells_nulls_and_booleans_like_postgres() {
        let lines = encode_batch(&batch(), &text()).expect("encodes");
        assert_eq!(lines, ["a\\tb\t1.5\tt\n", "\\N\t2.0\tf\n", "x,\"y\"\t\\N\t\\N\n"]);
    }

    #[test]
    fn csv_format_quotes_only_what_needs_it() {
        let csv = CopyFormat { csv: true, header: true, delimiter: ',', null: String::new() };
        let lines = encode_batch(&batch(), &csv).expect("encodes");
        assert_eq!(lines, ["a\tb,1.5,t\n", ",2.0,f\n", "\"x,\"\"y\"\"\",,\n"]);
    }
}
