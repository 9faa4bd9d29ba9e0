//! The only place where an `ErrorKind` becomes an HTTP status and body.
//!
//! Bodies follow the InfluxDB generation of each endpoint, because clients
//! parse them: 1.x `{"error"}` plus `X-Influxdb-Error`, 2.x `{"code","message"}`
//! plus `X-Platform-Error-Code`, 3.x `{"error","data"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ErrorKind, client_message};
use crate::ingest::lp::RejectedLine;

/// Which InfluxDB API generation an endpoint imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    V1,
    V2,
    V3,
}

#[derive(Debug)]
pub(crate) struct HttpError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) api: Api,
    pub(crate) rejected: Vec<RejectedLine>,
}

impl HttpError {
    pub(crate) fn new(api: Api, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), api, rejected: Vec::new() }
    }
}

/// Status, 2.x error code and whether a Retry-After is sent, per STYLE.md §5.
pub(crate) fn status(kind: ErrorKind) -> (StatusCode, &'static str, bool) {
    use ErrorKind as K;
    match kind {
        K::InvalidRequest | K::LineProtocolSyntax | K::PartialWrite | K::SchemaConflict | K::QuerySyntax => {
            (StatusCode::BAD_REQUEST, "invalid", false)
        }
        K::UnknownTable | K::UnknownColumn | K::UnknownFunction | K::TypeMismatch | K::DataException => {
            (StatusCode::BAD_REQUEST, "invalid", false)
        }
        K::UnsupportedMedia => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid", false),
        K::LimitExceeded => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable entity", false),
        K::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request too large", false),
        K::DatabaseNotFound => (StatusCode::NOT_FOUND, "not found", false),
        K::AlreadyExists => (StatusCode::CONFLICT, "conflict", false),
        K::Unsupported => (StatusCode::NOT_IMPLEMENTED, "not implemented", false),
        K::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthorized", false),
        K::Forbidden => (StatusCode::FORBIDDEN, "forbidden", false),
        K::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "too many requests", true),
        K::Backpressure | K::ShuttingDown | K::CatalogConflict => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", true)
        }
        K::ResourcesExhausted | K::StorageUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", false),
        K::Timeout => (StatusCode::GATEWAY_TIMEOUT, "unavailable", false),
        // 499: the client is gone; nobody reads this answer, but the log does.
        K::Cancelled => (StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST), "canceled", false),
        K::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", false),
        K::Protocol => (StatusCode::BAD_REQUEST, "invalid", false),
        K::Routing => (StatusCode::NOT_FOUND, "not found", false),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, retry) = status(self.kind);
        if self.kind == ErrorKind::Internal {
            tracing::error!(error = %self.message, "internal error");
        } else if self.kind.is_server_side() {
            tracing::warn!(kind = ?self.kind, error = %self.message, "request failed");
        } else {
            tracing::debug!(kind = ?self.kind, error = %self.message, "request rejected");
        }
        let message = client_message(self.kind, &self.message);
        let data: Vec<_> = self
            .rejected
            .iter()
            .map(|r| json!({"line_number": r.line_number, "original_line": r.original_line, "error_message": r.reason}))
            .collect();
        let mut body = match self.api {
            Api::V1 | Api::V3 => json!({ "error": message }),
            Api::V2 => json!({ "code": code, "message": message }),
        };
        // 1.x's body is `{"error"}` alone (its message already names the
        // lines); the 2.x and 3.x endpoints list the rejected lines.
        if !data.is_empty() && self.api != Api::V1 {
            body["data"] = serde_json::Value::Array(data);
        }
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self.api {
            Api::V1 => {
                let mut end = message.len().min(1024);
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                if let Ok(v) = HeaderValue::from_str(&message[..end].replace(['\n', '\r'], " ")) {
                    headers.insert("X-Influxdb-Error", v);
                }
            }
            Api::V2 => {
                headers.insert("X-Platform-Error-Code", HeaderValue::from_static(code));
            }
            Api::V3 => {}
        }
        if retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_statuses_of_the_style_guide() {
        let table = [
            (ErrorKind::InvalidRequest, 400),
            (ErrorKind::UnsupportedMedia, 415),
            (ErrorKind::PartialWrite, 400),
            (ErrorKind::LimitExceeded, 422),
            (ErrorKind::PayloadTooLarge, 413),
            (ErrorKind::UnknownTable, 400),
            (ErrorKind::DatabaseNotFound, 404),
            (ErrorKind::AlreadyExists, 409),
            (ErrorKind::Unsupported, 501),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::RateLimited, 429),
            (ErrorKind::Backpressure, 503),
            (ErrorKind::Timeout, 504),
            (ErrorKind::Internal, 500),
        ];
        for (kind, code) in table {
            assert_eq!(status(kind).0.as_u16(), code, "{kind:?}");
        }
        assert!(status(ErrorKind::Backpressure).2, "backpressure carries Retry-After");
    }
}
