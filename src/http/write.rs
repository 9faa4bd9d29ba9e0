//! The three write endpoints. They differ only in parameter names, defaults
//! and error bodies; everything else is `Ingester::write_lp`.

use std::collections::HashMap;
use std::io::Read as _;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ErrorKind, classify_ingest};
use crate::http::AppState;
use crate::http::error::{Api, HttpError};
use crate::ingest::lp::{Precision, RejectedLine};
use crate::ingest::{WriteOptions, WriteOutcome};

type Params = Query<HashMap<String, String>>;

pub(crate) async fn write_v1(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    write(&state, Api::V1, &params, &headers, body).await
}

pub(crate) async fn write_v2(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    write(&state, Api::V2, &params, &headers, body).await
}

pub(crate) async fn write_v3(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    write(&state, Api::V3, &params, &headers, body).await
}

type Body = Result<Bytes, BytesRejection>;

async fn write(
    state: &AppState,
    api: Api,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match try_write(state, api, params, headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn try_write(
    state: &AppState,
    api: Api,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), HttpError> {
    let invalid = |m: String| HttpError::new(api, ErrorKind::InvalidRequest, m);
    // Only the 2.x API names its database "bucket"; only 3.x has the two flags.
    let db_param = if api == Api::V2 { "bucket" } else { "db" };
    let flag = |name: &str, default: bool| match api {
        Api::V3 => params.get(name).map_or(default, |v| v != "false"),
        Api::V1 | Api::V2 => default,
    };
    let db = params
        .get(db_param)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid(format!("missing required parameter {db_param:?}")))?;
    let db = &storage_database(state, api, db, params.get("rp").map(String::as_str))?;
    let precision = match params.get("precision") {
        None => Precision::Nanosecond,
        Some(p) => {
            Precision::parse(p).ok_or_else(|| invalid(format!("invalid precision {p:?}: use ns, us, ms, s, m or h")))?
        }
    };
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(api, state.max_request_size)
        } else {
            invalid(format!("could not read the request body: {e}"))
        }
    })?;
    let body = decode_body(api, headers, body, state.max_request_size)?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| invalid(format!("the body is not valid UTF-8 at byte {}", e.valid_up_to())))?;
    let options =
        WriteOptions { precision, no_sync: flag("no_sync", false), accept_partial: flag("accept_partial", true) };
    let outcome = state
        .ingester
        .write_lp(db, text, options)
        .await
        .map_err(|e| HttpError::new(api, classify_ingest(&e), e.to_string()))?;
    match outcome {
        WriteOutcome { rejected, .. } if rejected.is_empty() => Ok(()),
        WriteOutcome { accepted, rejected } => Err(partial_write(api, accepted, rejected)),
    }
}

/// The database a write lands in. 1.x writes need an existing database (as
/// 1.x: Telegraf creates it on the 404) and honour `rp`; 2.x's bucket may be
/// `db/rp`; retention policies other than `autogen` keep their points apart
/// (`Database::policy_database`). 2.x and 3.x create databases on first write.
fn storage_database(state: &AppState, api: Api, db: &str, rp: Option<&str>) -> Result<String, HttpError> {
    let snapshot = state.engine.catalog().snapshot();
    let not_found = |m: String| HttpError::new(api, ErrorKind::DatabaseNotFound, m);
    let (name, rp) = match (api, db.rsplit_once('/')) {
        (Api::V2, Some((name, rp))) if snapshot.database(name).is_some() => (name, Some(rp)),
        (Api::V1, _) => (db, rp),
        _ => (db, None),
    };
    match snapshot.database(name) {
        Some(database) => database
            .policy_database(rp)
            .ok_or_else(|| not_found(format!("retention policy not found: {}", rp.unwrap_or_default()))),
        None if api == Api::V1 => Err(not_found(format!("database not found: {name:?}"))),
        None => Ok(name.to_owned()),
    }
}

fn too_large(api: Api, limit: usize) -> HttpError {
    HttpError::new(api, ErrorKind::PayloadTooLarge, format!("request body is larger than the limit of {limit} bytes"))
}

/// Un-gzips when asked to, never producing more than `limit` bytes.
fn decode_body(api: Api, headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, HttpError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(body.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| HttpError::new(api, ErrorKind::InvalidRequest, format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(too_large(api, limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(HttpError::new(
            api,
            ErrorKind::UnsupportedMedia,
            format!("unsupported Content-Encoding {other:?}: use gzip or none"),
        )),
    }
}

/// The answer when some lines were rejected. InfluxDB 1.x clients (Telegraf)
/// decide whether to retry from how the message starts, so it must start
/// `unable to parse` when nothing parsed and `partial write:` otherwise.
fn partial_write(api: Api, accepted: usize, rejected: Vec<RejectedLine>) -> HttpError {
    let all_syntax = accepted == 0 && rejected.iter().all(|r| r.syntax);
    let (kind, message) = match api {
        Api::V1 | Api::V2 if all_syntax => {
            let parts: Vec<String> =
                rejected.iter().map(|r| format!("unable to parse '{}': {}", r.original_line, r.reason)).collect();
            (ErrorKind::LineProtocolSyntax, parts.join("\n"))
        }
        Api::V1 | Api::V2 => {
            let reasons: Vec<String> =
                rejected.iter().map(|r| format!("line {}: {}", r.line_number, r.reason)).collect();
            (ErrorKind::PartialWrite, format!("partial write: {} dropped={}", reasons.join("; "), rejected.len()))
        }
        Api::V3 if all_syntax => (ErrorKind::LineProtocolSyntax, "parsing failed for write_lp endpoint".to_owned()),
        Api::V3 => (ErrorKind::PartialWrite, "partial write of line protocol occurred".to_owned()),
    };
    HttpError { kind, message, api, rejected }
}
