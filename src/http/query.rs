//! The SQL query endpoint, `/api/v3/query_sql`, and the request-parameter
//! merging the query endpoints share (InfluxQL's are in `influxql.rs`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ErrorKind, classify_datafusion, classify_query};
use crate::http::AppState;
use crate::http::error::{Api, HttpError};
use crate::http::format::{self, Format};
use crate::query::engine::Planned;

type Params = Query<HashMap<String, String>>;

/// Parameters from the query string, overridden by a JSON or form body.
pub(crate) fn merge_params(
    mut params: HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    api: Api,
) -> Result<HashMap<String, String>, HttpError> {
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| HttpError::new(api, ErrorKind::InvalidRequest, format!("invalid JSON body: {e}")))?;
        for (k, v) in value.as_object().into_iter().flatten() {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            params.insert(k.clone(), v);
        }
    } else {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        params.extend(form);
    }
    Ok(params)
}

/// GET and POST alike: a GET has no body, so its parameters are the query string's.
pub(crate) async fn query_sql_handler(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match merge_params(params, &headers, &body, Api::V3) {
        Ok(params) => query_sql(&state, params).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

async fn query_sql(state: &AppState, params: HashMap<String, String>) -> Result<Response, HttpError> {
    let api = Api::V3;
    let invalid = |m: String| HttpError::new(api, ErrorKind::InvalidRequest, m);
    let db = params
        .get("db")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("missing required parameter \"db\"".into()))?;
    let q = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| invalid("missing required parameter \"q\"".into()))?;
    let format_name = params.get("format").map_or("json", String::as_str);
    let format = Format::parse(format_name)
        .ok_or_else(|| invalid(format!("unknown format {format_name:?}: use json, jsonl, csv, pretty or parquet")))?;
    let query_error = |e: crate::query::QueryError| HttpError::new(api, classify_query(&e), e.to_string());
    let session = state.engine.session(db).map_err(query_error)?;
    tracing::debug!(db = %db, q = %q, "query_sql");
    let mut plans = session.plan_sql(q).await.map_err(query_error)?;
    let plan = match plans.len() {
        1 => plans.remove(0),
        n => {
            return Err(invalid(format!("expected exactly one statement in \"q\", found {n}")));
        }
    };
    let Planned::Query(plan) = plan else {
        return Err(invalid(
            "COPY, SET, SHOW and transaction statements belong to Postgres sessions; \
             /api/v3/query_sql answers queries"
                .into(),
        ));
    };
    let stream = session.execute(plan).await.map_err(query_error)?;
    format::respond(format, stream).await.map_err(|e| HttpError::new(api, classify_datafusion(&e), e.to_string()))
}
