//! Query endpoints: `/api/v3/query_sql` and the 1.x `/query`.
//!
//! `/query` speaks InfluxQL. Until the InfluxQL front end lands it answers the
//! statement every Telegraf sends at start, `CREATE DATABASE`, like InfluxDB
//! 1.x, and says plainly that other InfluxQL is not supported yet.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ErrorKind, classify_datafusion, classify_ingest, classify_query};
use crate::http::AppState;
use crate::http::error::{Api, HttpError};
use crate::http::format::{self, Format};
use crate::query::engine::Planned;

type Params = Query<HashMap<String, String>>;

/// Parameters from the query string, overridden by a JSON or form body.
fn merge_params(
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

pub(crate) async fn query_sql_get(State(state): State<AppState>, Query(params): Params) -> Response {
    query_sql(&state, params).await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn query_sql_post(
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

pub(crate) async fn query_v1_get(State(state): State<AppState>, Query(params): Params) -> Response {
    query_v1(&state, params).await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn query_v1_post(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match merge_params(params, &headers, &body, Api::V1) {
        Ok(params) => query_v1(&state, params).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

async fn query_v1(state: &AppState, params: HashMap<String, String>) -> Result<Response, HttpError> {
    let api = Api::V1;
    let q = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| HttpError::new(api, ErrorKind::InvalidRequest, "missing required parameter \"q\""))?;
    let mut results = Vec::new();
    for (statement_id, statement) in q.split(';').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
        let Some(name) = create_database_name(statement) else {
            return Err(HttpError::new(
                api,
                ErrorKind::Unsupported,
                format!("InfluxQL is not supported yet (only CREATE DATABASE is): {statement}"),
            ));
        };
        match state.ingester.create_database(&name).await {
            Ok(()) => results.push(json!({ "statement_id": statement_id })),
            Err(e) if classify_ingest(&e) == ErrorKind::InvalidRequest => {
                results.push(json!({ "statement_id": statement_id, "error": e.to_string() }));
            }
            Err(e) => return Err(HttpError::new(api, classify_ingest(&e), e.to_string())),
        }
    }
    Ok(axum::Json(json!({ "results": results })).into_response())
}

/// The database named by `CREATE DATABASE <name> [WITH ...]`, unquoting `"name"`.
fn create_database_name(statement: &str) -> Option<String> {
    let mut words = statement.splitn(3, char::is_whitespace);
    let create = words.next()?;
    let database = words.next()?;
    if !create.eq_ignore_ascii_case("create") || !database.eq_ignore_ascii_case("database") {
        return None;
    }
    let rest = words.next()?.trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => name.push(chars.next()?),
                '"' => return Some(name),
                c => name.push(c),
            }
        }
        None
    } else {
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_database_names_are_found_quoted_or_not() {
        assert_eq!(create_database_name("CREATE DATABASE telegraf").as_deref(), Some("telegraf"));
        assert_eq!(create_database_name("create database \"my db\" WITH DURATION 1d").as_deref(), Some("my db"));
        assert_eq!(create_database_name("SHOW DATABASES"), None);
        assert_eq!(create_database_name("CREATE DATABASE"), None);
    }
}
