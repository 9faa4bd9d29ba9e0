//! The HTTP frontend: the axum router and every path it serves, in one list.
//!
//! Handlers translate HTTP to `Ingester` and `QueryEngine` calls and back;
//! they validate parameters but never data, and touch no storage.

mod error;
mod format;
mod influxql;
mod query;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::ingest::Ingester;
use crate::query::QueryEngine;

pub(crate) const PATH_WRITE_V1: &str = "/write";
pub(crate) const PATH_WRITE_V2: &str = "/api/v2/write";
pub(crate) const PATH_WRITE_V3: &str = "/api/v3/write_lp";
pub(crate) const PATH_QUERY_V1: &str = "/query";
pub(crate) const PATH_QUERY_SQL: &str = "/api/v3/query_sql";
pub(crate) const PATH_QUERY_INFLUXQL: &str = "/api/v3/query_influxql";
pub(crate) const PATH_HEALTH: &str = "/health";
pub(crate) const PATH_PING: &str = "/ping";

/// The InfluxDB version clients are told they talk to; they gate features on it.
const INFLUXDB_VERSION: &str = "1.8.10";

#[derive(Debug, Clone)]
pub struct AppState {
    pub ingester: Arc<Ingester>,
    pub engine: Arc<QueryEngine>,
    pub persister: Arc<crate::storage::persist::Persister>,
    pub max_request_size: usize,
}

pub fn router(state: AppState) -> Router {
    let limit = state.max_request_size;
    Router::new()
        .route(PATH_WRITE_V1, post(write::write_v1))
        .route(PATH_WRITE_V2, post(write::write_v2))
        .route(PATH_WRITE_V3, post(write::write_v3))
        .route(PATH_QUERY_V1, get(influxql::query_v1_handler).post(influxql::query_v1_handler))
        .route(PATH_QUERY_INFLUXQL, get(influxql::query_v3_handler).post(influxql::query_v3_handler))
        .route(PATH_QUERY_SQL, get(query::query_sql_handler).post(query::query_sql_handler))
        .route(PATH_HEALTH, get(health))
        .route(PATH_PING, get(ping).head(ping))
        .fallback(not_found)
        .layer(axum::middleware::map_response(version_headers))
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn health() -> &'static str {
    "OK"
}

async fn ping() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// InfluxDB answers every request with its version; clients and Telegraf read it.
async fn version_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("X-Influxdb-Version", HeaderValue::from_static(INFLUXDB_VERSION));
    headers.insert("X-Influxdb-Build", HeaderValue::from_static("OSS"));
    headers.insert("X-Sediment-Version", HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
    response
}

async fn not_found() -> Response {
    error::HttpError::new(error::Api::V3, crate::error::ErrorKind::Routing, "no such endpoint").into_response()
}
