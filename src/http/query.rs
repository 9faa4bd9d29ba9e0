//! Query endpoints: `/api/v3/query_sql` and the 1.x `/query`.
//!
//! `/query` speaks InfluxQL with 1.x's response shape: a parse error is a 400,
//! an error while a statement runs is that statement's `error` in a 200.
//! Meta statements and `CREATE DATABASE` are answered; the rest of InfluxQL
//! says plainly that it is not supported yet.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use sediment_sql::influxql::ast::{Literal, Measurement, SelectStatement};
use sediment_sql::influxql::{self, Statement};

use crate::error::{ErrorKind, classify_datafusion, classify_query};
use crate::http::AppState;
use crate::http::error::{Api, HttpError};
use crate::http::format::{self, Format};
use crate::query::engine::Planned;
use crate::ingest::WriteOptions;
use crate::ingest::lp::Precision;
use crate::query::influxql::{self as influxql_meta, Context, InfluxqlError, Series};

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
    let invalid = |m: String| HttpError::new(api, ErrorKind::InvalidRequest, m);
    let q = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| invalid("missing required parameter \"q\"".into()))?;
    let statements = influxql::parse(q)
        .map_err(|e| HttpError::new(api, ErrorKind::QuerySyntax, format!("error parsing query: {e}")))?;
    let bound = match params.get("params") {
        Some(text) => bound_params(text).map_err(invalid)?,
        None => BTreeMap::new(),
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let epoch = match params.get("epoch").filter(|e| !e.is_empty()) {
        Some(e) => Some(
            influxql_meta::epoch_unit(e)
                .ok_or_else(|| invalid(format!("invalid epoch {e:?}: use ns, u, ms, s, m or h")))?,
        ),
        None => None,
    };
    let non_empty = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let cx = Context { db: non_empty("db"), rp: non_empty("rp"), params: &bound, now, epoch };
    let mut results = Vec::with_capacity(statements.len());
    for (statement_id, statement) in statements.iter().enumerate() {
        let result = match run_statement(state, statement, &cx).await {
            Ok(series) if series.is_empty() => json!({ "statement_id": statement_id }),
            Ok(series) => {
                json!({ "statement_id": statement_id, "series": series.iter().map(series_json).collect::<Vec<_>>() })
            }
            // 1.x: an error while a statement runs is a 200 with the error in its result.
            Err(message) => json!({ "statement_id": statement_id, "error": message }),
        };
        results.push(result);
    }
    let mut response = axum::Json(json!({ "results": results })).into_response();
    response
        .headers_mut()
        .insert("X-Influxdb-Version", axum::http::HeaderValue::from_static(crate::http::INFLUXDB_VERSION));
    Ok(response)
}

/// Runs one statement; an error is the text 1.x puts in the statement's result.
async fn run_statement(state: &AppState, statement: &Statement, cx: &Context<'_>) -> Result<Vec<Series>, String> {
    if let Statement::Select(select) = statement
        && let Some(into) = &select.into
    {
        return select_into(state, select, into, cx).await.map_err(|e| e.to_string());
    }
    if let Statement::CreateDatabase { name, policy } = statement {
        state.ingester.create_database(name).await.map_err(|e| e.to_string())?;
        if let Some(spec) = policy {
            influxql_meta::set_database_policy(&state.engine, name, spec).await.map_err(|e| e.to_string())?;
        }
        return Ok(Vec::new());
    }
    match influxql_meta::remove(&state.engine, &state.persister, statement, cx).await {
        Ok(true) => return Ok(Vec::new()),
        Ok(false) => {}
        Err(e) => return Err(e.to_string()),
    }
    match influxql_meta::retention_policy(&state.engine, statement).await {
        Ok(true) => return Ok(Vec::new()),
        Ok(false) => {}
        Err(e) => return Err(e.to_string()),
    }
    match influxql_meta::show(&state.engine, statement, cx).await {
        Ok(Some(series)) => Ok(series),
        Ok(None) => Err(format!("{} is not supported yet", statement_kind(statement))),
        Err(e) => Err(e.to_string()),
    }
}

/// `SELECT ... INTO`: the result goes through the ingest path; 1.x answers
/// with the number of points written.
async fn select_into(
    state: &AppState,
    select: &SelectStatement,
    into: &Measurement,
    cx: &Context<'_>,
) -> Result<Vec<Series>, InfluxqlError> {
    let snapshot = state.engine.catalog().snapshot();
    let (db, measurement) = influxql_meta::into::target(&snapshot, into, cx)?;
    let query = Statement::Select(Box::new(SelectStatement { into: None, ..select.clone() }));
    let in_nanos = Context { epoch: Some(1), ..*cx };
    let series = influxql_meta::show(&state.engine, &query, &in_nanos).await?.unwrap_or_default();
    let (lp, points) = influxql_meta::into::line_protocol(&series, measurement.as_deref());
    if points > 0 {
        let options = WriteOptions { precision: Precision::Nanosecond, no_sync: false, accept_partial: true };
        let outcome = state.ingester.write_lp(&db, &lp, options).await.map_err(|e| InfluxqlError::Invalid(e.to_string()))?;
        if let Some(first) = outcome.rejected.first() {
            return Err(InfluxqlError::Invalid(format!("partial write: {} dropped={}", first.reason, outcome.rejected.len())));
        }
    }
    Ok(vec![Series {
        name: Some("result".into()),
        tags: None,
        columns: vec!["time".into(), "written".into()],
        values: vec![vec![cx.format_epoch_zero(), serde_json::Value::from(points)]],
    }])
}

fn statement_kind(statement: &Statement) -> &'static str {
    match statement {
        Statement::Select(_) => "SELECT",
        Statement::DropDatabase { .. } => "DROP DATABASE",
        Statement::DropMeasurement { .. } => "DROP MEASUREMENT",
        Statement::DropSeries { .. } => "DROP SERIES",
        Statement::Delete { .. } => "DELETE",
        Statement::CreateRetentionPolicy { .. } => "CREATE RETENTION POLICY",
        Statement::AlterRetentionPolicy { .. } => "ALTER RETENTION POLICY",
        Statement::DropRetentionPolicy { .. } => "DROP RETENTION POLICY",
        _ => "this statement",
    }
}

fn series_json(series: &Series) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    if let Some(name) = &series.name {
        object.insert("name".into(), json!(name));
    }
    if let Some(tags) = &series.tags {
        object.insert("tags".into(), json!(tags));
    }
    object.insert("columns".into(), json!(series.columns));
    object.insert("values".into(), json!(series.values));
    serde_json::Value::Object(object)
}

/// `params={"h":"server01","v":55}`: bound parameters as InfluxQL literals.
fn bound_params(text: &str) -> Result<BTreeMap<String, Literal>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("error parsing query parameters: {e}"))?;
    let object = value.as_object().ok_or_else(|| "query parameters must be a JSON object".to_owned())?;
    let mut out = BTreeMap::new();
    for (name, value) in object {
        let literal = match value {
            serde_json::Value::String(s) => Literal::String(s.clone()),
            serde_json::Value::Bool(b) => Literal::Boolean(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Literal::Integer(i),
                (None, Some(u), _) => Literal::Unsigned(u),
                (None, None, Some(f)) => Literal::Float(f),
                _ => return Err(format!("parameter {name:?}: unsupported number {n}")),
            },
            other => return Err(format!("parameter {name:?}: unsupported value {other}")),
        };
        out.insert(name.clone(), literal);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_params_become_literals() {
        let params = bound_params(r#"{"h": "server01", "v": 55, "f": 1.5, "b": true}"#).expect("parses");
        assert_eq!(params["h"], Literal::String("server01".into()));
        assert_eq!(params["v"], Literal::Integer(55));
        assert_eq!(params["f"], Literal::Float(1.5));
        assert_eq!(params["b"], Literal::Boolean(true));
        assert!(bound_params("[1]").is_err());
    }
}
