//! Encoders from a stream of record batches to HTTP bodies: JSON, JSON lines,
//! CSV, pretty tables and Parquet.
//!
//! JSON, JSON lines and CSV stream batch by batch. A pretty table needs every
//! row to size its columns and Parquet writes its footer last, so those two
//! collect the result first (bounded by the query memory pool upstream).
//! The first batch is awaited before the status line goes out, so an error
//! that happens early still gets a proper status; a later one aborts the body.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt, TryStreamExt, stream};

pub(crate) mod v1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Jsonl,
    Csv,
    Pretty,
    Parquet,
}

impl Format {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "json" => Self::Json,
            "jsonl" => Self::Jsonl,
            "csv" => Self::Csv,
            "pretty" => Self::Pretty,
            "parquet" => Self::Parquet,
            _ => return None,
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Jsonl => "application/jsonl",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Pretty => "text/plain; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

type EncodeResult = Result<Bytes, DataFusionError>;

/// Encodes `stream` as `format`. Errors before the first batch come back as `Err`.
pub(crate) async fn respond(
    format: Format,
    mut stream: SendableRecordBatchStream,
) -> Result<Response, DataFusionError> {
    let schema = stream.schema();
    let first = stream.next().await.transpose()?;
    let batches = stream::iter(first.map(Ok)).chain(stream);
    let body = match format {
        Format::Json => Body::from_stream(json_array(batches)),
        Format::Jsonl => Body::from_stream(batches.map(|b| encode_jsonl(&b?))),
        Format::Csv => Body::from_stream(csv(batches)),
        Format::Pretty => {
            let all: Vec<RecordBatch> = batches.try_collect().await?;
            let table = arrow::util::pretty::pretty_format_batches(&all)?;
            Body::from(format!("{table}\n"))
        }
        Format::Parquet => {
            let all: Vec<RecordBatch> = batches.try_collect().await?;
            Body::from(encode_parquet(&schema, &all)?)
        }
    };
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    Ok(response)
}

fn json_array(
    batches: impl Stream<Item = Result<RecordBatch, DataFusionError>> + Send + 'static,
) -> impl Stream<Item = EncodeResult> + Send + 'static {
    let rows = batches.scan(false, |wrote_any, batch| {
        let out = batch.and_then(|b| {
            let objects = encode_json_objects(&b)?;
            if objects.is_empty() {
                return Ok(Bytes::new());
            }
            let mut out = Vec::with_capacity(objects.len() + 1);
            if *wrote_any {
                out.push(b',');
            }
            out.extend_from_slice(&objects);
            *wrote_any = true;
            Ok(Bytes::from(out))
        });
        futures::future::ready(Some(out))
    });
    stream::once(async { Ok(Bytes::from_static(b"[")) })
        .chain(rows)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]")) }))
}

/// The rows of a batch as comma-separated JSON objects, without the brackets.
fn encode_json_objects(batch: &RecordBatch) -> Result<Vec<u8>, DataFusionError> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let mut bytes = writer.into_inner();
    // ArrayWriter writes "[...]" (or nothing for zero rows).
    if bytes.first() == Some(&b'[') {
        bytes.remove(0);
        bytes.pop();
    }
    Ok(bytes)
}

fn encode_jsonl(batch: &RecordBatch) -> EncodeResult {
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    Ok(Bytes::from(writer.into_inner()))
}

fn csv(
    batches: impl Stream<Item = Result<RecordBatch, DataFusionError>> + Send + 'static,
) -> impl Stream<Item = EncodeResult> + Send + 'static {
    batches.scan(true, |first, batch| {
        let out = batch.and_then(|b| {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(*first).build(Vec::new());
            writer.write(&b)?;
            *first = false;
            Ok(Bytes::from(writer.into_inner()))
        });
        futures::future::ready(Some(out))
    })
}

fn encode_parquet(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes, DataFusionError> {
    let mut writer = parquet::arrow::ArrowWriter::try_new(Vec::new(), Arc::clone(schema), None)?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}
