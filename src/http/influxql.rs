//! InfluxQL over HTTP: the 1.x `/query` and InfluxDB 3's
//! `/api/v3/query_influxql`.
//!
//! `/query` answers 1.x's response shape: a parse error is a 400, an error
//! while a statement runs is that statement's `error` in a 200, and the later
//! statements still run. `chunked=true` streams one JSON object per line as
//! each statement finishes (series cut every `chunk_size` rows);
//! `Accept: application/csv` answers CSV; `pretty=true` indents.
//! `/api/v3/query_influxql` runs one statement and answers a table in the SQL
//! endpoint's formats.
//!
//! ```text
//!   q ─parse─▶ statements ─run_statement (one by one)─▶ series ─format::v1─▶ JSON | chunks | CSV
//!                                                              └─record_batch─▶ format::respond (v3)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, stream};

use sediment_sql::influxql::ast::{Literal, Measurement, SelectStatement};
use sediment_sql::influxql::{self, Statement};

use crate::error::{ErrorKind, classify_datafusion, classify_influxql, classify_ingest};
use crate::http::AppState;
use crate::http::error::{Api, HttpError};
use crate::http::format::{self, Format, v1};
use crate::http::query::merge_params;
use crate::ingest::lp::Precision;
use crate::ingest::{IngestError, WriteOptions};
use crate::query::influxql::{self as engine, Context, InfluxqlError, Series};

type Params = Query<HashMap<String, String>>;

/// 1.x's default rows per chunk.
const DEFAULT_CHUNK_SIZE: usize = 10_000;

/// `/query`, GET and POST alike (a GET's parameters are all in the query string).
pub(crate) async fn query_v1_handler(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match merge_params(params, &headers, &body, Api::V1) {
        Ok(params) => query_v1(state, params, &headers).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

/// `/api/v3/query_influxql`, GET and POST alike.
pub(crate) async fn query_v3_handler(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match merge_params(params, &headers, &body, Api::V3) {
        Ok(params) => query_v3(&state, params).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

/// A parsed InfluxQL request, owning what its statements run with.
struct Request {
    statements: Vec<Statement>,
    bound: BTreeMap<String, Literal>,
    db: Option<String>,
    rp: Option<String>,
    epoch: Option<i64>,
    now: i64,
}

impl Request {
    fn parse(params: &HashMap<String, String>, api: Api) -> Result<Self, HttpError> {
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
        if let Some(missing) = influxql::parameters(q).into_iter().find(|p| !bound.contains_key(p)) {
            let message = format!("error parsing query: missing parameter: {missing}");
            return Err(HttpError::new(api, ErrorKind::QuerySyntax, message));
        }
        let epoch = match params.get("epoch").filter(|e| !e.is_empty()) {
            Some(e) => Some(
                engine::epoch_unit(e)
                    .ok_or_else(|| invalid(format!("invalid epoch {e:?}: use ns, u, ms, s, m or h")))?,
            ),
            None => None,
        };
        let non_empty = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        Ok(Self {
            statements,
            bound,
            db: non_empty("db"),
            rp: non_empty("rp"),
            epoch,
            now: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        })
    }

    fn context(&self) -> Context<'_> {
        Context {
            db: self.db.as_deref(),
            rp: self.rp.as_deref(),
            params: &self.bound,
            now: self.now,
            epoch: self.epoch,
        }
    }

    async fn run(&self, state: &AppState, id: usize) -> v1::StatementResult {
        let outcome = run_statement(state, &self.statements[id], &self.context()).await.map_err(|f| f.message);
        v1::StatementResult { id, outcome }
    }
}

async fn query_v1(
    state: AppState,
    params: HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let mut request = Request::parse(&params, Api::V1)?;
    let flag = |name: &str| params.get(name).is_some_and(|v| v == "true");
    let pretty = flag("pretty");
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let csv = accept.contains("application/csv") || accept.contains("text/csv");
    if csv && request.epoch.is_none() {
        // 1.x's CSV always carries times as integer nanoseconds.
        request.epoch = Some(1);
    }
    let (content_type, body) = if flag("chunked") && !csv {
        let chunk_size = match params.get("chunk_size").filter(|s| !s.is_empty()) {
            Some(s) => s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                HttpError::new(
                    Api::V1,
                    ErrorKind::InvalidRequest,
                    format!("invalid chunk_size {s:?}: a positive integer"),
                )
            })?,
            None => DEFAULT_CHUNK_SIZE,
        };
        // Each statement runs when the client has read the ones before it.
        let chunks = stream::unfold((state, request, 0), move |(state, request, id)| async move {
            if id >= request.statements.len() {
                return None;
            }
            let result = request.run(&state, id).await;
            let chunks =
                v1::chunks(&result, chunk_size, pretty).into_iter().map(|c| Ok::<_, Infallible>(Bytes::from(c)));
            Some((stream::iter(chunks), (state, request, id + 1)))
        })
        .flatten();
        ("application/json", Body::from_stream(chunks))
    } else {
        let mut results = Vec::with_capacity(request.statements.len());
        for id in 0..request.statements.len() {
            results.push(request.run(&state, id).await);
        }
        let body = if csv { v1::csv_body(&results).into_bytes() } else { v1::json_body(&results, pretty) };
        (if csv { "application/csv" } else { "application/json" }, Body::from(body))
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("X-Influxdb-Version", HeaderValue::from_static(crate::http::INFLUXDB_VERSION));
    Ok(response)
}

/// `/api/v3/query_influxql`: one statement, its series as one table.
async fn query_v3(state: &AppState, params: HashMap<String, String>) -> Result<Response, HttpError> {
    let api = Api::V3;
    let invalid = |m: String| HttpError::new(api, ErrorKind::InvalidRequest, m);
    if params.get("db").is_none_or(|d| d.is_empty()) {
        return Err(invalid("missing required parameter \"db\"".into()));
    }
    let format_name = params.get("format").map_or("json", String::as_str);
    let format = Format::parse(format_name)
        .ok_or_else(|| invalid(format!("unknown format {format_name:?}: use json, jsonl, csv, pretty or parquet")))?;
    let mut request = Request::parse(&params, api)?;
    if request.statements.len() != 1 {
        return Err(invalid(format!("expected exactly one statement in \"q\", found {}", request.statements.len())));
    }
    request.epoch = Some(1);
    let series = run_statement(state, &request.statements[0], &request.context())
        .await
        .map_err(|f| HttpError::new(api, f.kind, f.message))?;
    let batch = v1::record_batch(&series).map_err(|e| HttpError::new(api, ErrorKind::Internal, e.to_string()))?;
    let stream = RecordBatchStreamAdapter::new(batch.schema(), stream::iter([Ok(batch)]));
    format::respond(format, Box::pin(stream))
        .await
        .map_err(|e| HttpError::new(api, classify_datafusion(&e), e.to_string()))
}

/// Why a statement failed: its kind (for `/api/v3`) and the text 1.x puts in its result.
struct Failed {
    kind: ErrorKind,
    message: String,
}

impl From<InfluxqlError> for Failed {
    fn from(e: InfluxqlError) -> Self {
        Self { kind: classify_influxql(&e), message: e.to_string() }
    }
}

impl From<IngestError> for Failed {
    fn from(e: IngestError) -> Self {
        Self { kind: classify_ingest(&e), message: e.to_string() }
    }
}

/// Runs one statement.
async fn run_statement(state: &AppState, statement: &Statement, cx: &Context<'_>) -> Result<Vec<Series>, Failed> {
    if let Statement::Select(select) = statement
        && let Some(into) = &select.into
    {
        return select_into(state, select, into, cx).await;
    }
    if let Statement::CreateDatabase { name, policy } = statement {
        state.ingester.create_database(name).await?;
        if let Some(spec) = policy {
            engine::set_database_policy(&state.engine, name, spec).await?;
        }
        return Ok(Vec::new());
    }
    if engine::remove(&state.engine, &state.persister, statement, cx).await?
        || engine::retention_policy(&state.engine, statement).await?
    {
        return Ok(Vec::new());
    }
    match engine::show(&state.engine, statement, cx).await? {
        Some(series) => Ok(series),
        None => Err(InfluxqlError::Unsupported(statement_kind(statement).into()).into()),
    }
}

/// `SELECT ... INTO`: the result goes through the ingest path; 1.x answers
/// with the number of points written.
async fn select_into(
    state: &AppState,
    select: &SelectStatement,
    into: &Measurement,
    cx: &Context<'_>,
) -> Result<Vec<Series>, Failed> {
    let snapshot = state.engine.catalog().snapshot();
    let (db, measurement) = engine::into::target(&snapshot, into, cx)?;
    let query = Statement::Select(Box::new(SelectStatement { into: None, ..select.clone() }));
    let in_nanos = Context { epoch: Some(1), ..*cx };
    let series = engine::show(&state.engine, &query, &in_nanos).await?.unwrap_or_default();
    let (lp, points) = engine::into::line_protocol(&series, measurement.as_deref());
    if points > 0 {
        let options = WriteOptions { precision: Precision::Nanosecond, no_sync: false, accept_partial: true };
        let outcome = state.ingester.write_lp(&db, &lp, options).await?;
        if let Some(first) = outcome.rejected.first() {
            let message = format!("partial write: {} dropped={}", first.reason, outcome.rejected.len());
            return Err(Failed { kind: ErrorKind::PartialWrite, message });
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
