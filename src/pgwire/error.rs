//! The only place where an `ErrorKind` becomes a SQLSTATE and an
//! `ErrorResponse` (STYLE.md §5).
//!
//! Every pgwire handler error goes through [`to_pg_error`] or [`kind_error`],
//! so the code a client sees and the log line an operator sees agree. Errors
//! that arrive inside a result stream are classified the same way as errors
//! from planning, through [`datafusion_error`].

use datafusion::error::DataFusionError;
// `::pgwire` is the crate; this module is `crate::pgwire`.
use ::pgwire::error::{ErrorInfo, PgWireError};
use sediment_sql::SqlError;

use crate::error::{ErrorKind, classify_query, client_message};
use crate::query::QueryError;

/// SQLSTATE per kind, per the table in STYLE.md §5. Kinds that only HTTP can
/// produce still get a code, because an exhaustive match is what forces a
/// decision when a kind is added.
pub fn sqlstate(kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    match kind {
        K::InvalidRequest | K::UnsupportedMedia | K::LineProtocolSyntax | K::PartialWrite => "22023",
        K::SchemaConflict | K::TypeMismatch => "42804",
        K::LimitExceeded | K::PayloadTooLarge => "54000",
        K::QuerySyntax => "42601",
        K::UnknownTable => "42P01",
        K::UnknownColumn => "42703",
        K::UnknownFunction => "42883",
        // The kind does not say whether it was a division by zero, an overflow or a
        // bad literal; 22P02 is the most common of the three for SQL text.
        K::DataException => "22P02",
        K::DatabaseNotFound => "3D000",
        K::AlreadyExists => "42P07",
        K::Unsupported => "0A000",
        K::Unauthenticated => "28P01",
        K::Forbidden => "42501",
        K::RateLimited => "53300",
        K::Backpressure => "53000",
        K::ResourcesExhausted => "53200",
        K::Timeout | K::Cancelled => "57014",
        K::ShuttingDown => "57P01",
        K::StorageUnavailable => "58030",
        K::CatalogConflict => "40001",
        K::Internal => "XX000",
        K::Protocol | K::Routing => "08P01",
    }
}

/// `FATAL` closes the connection after the ErrorResponse (pgwire checks the
/// severity text), which is what Postgres does for failed logins and for a
/// server that is going away.
fn severity(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unauthenticated | ErrorKind::ShuttingDown => "FATAL",
        _ => "ERROR",
    }
}

/// Logs once, at the level STYLE.md §5 gives the kind: frontends are where an
/// error is known to have reached a client.
fn log(kind: ErrorKind, message: &str) {
    if kind == ErrorKind::Internal {
        tracing::error!(error = %message, "internal error in a pg query");
    } else if kind.is_server_side() {
        tracing::warn!(?kind, error = %message, "pg query failed");
    } else {
        tracing::debug!(?kind, error = %message, "pg query rejected");
    }
}

fn response_info(kind: ErrorKind, message: String) -> ErrorInfo {
    ErrorInfo::new(severity(kind).to_owned(), sqlstate(kind).to_owned(), message)
}

/// The ErrorResponse for a query error, with the syntax error position when
/// the parser knew it.
pub(crate) fn to_pg_error(e: &QueryError) -> PgWireError {
    let kind = classify_query(e);
    let text = e.to_string();
    log(kind, &text);
    let mut info = response_info(kind, client_message(kind, &text));
    if let QueryError::Sql(SqlError::Syntax { position: Some(position), .. }) = e {
        // Both are 1-based character offsets into the query text.
        info.position = Some(position.to_string());
    }
    PgWireError::UserError(Box::new(info))
}

/// The SQLSTATE and message a Postgres client gets for a query error, for
/// callers that answer in Postgres terms without a wire (the sqllogictest
/// runner's in-process engine).
pub fn client_error(e: &QueryError) -> (&'static str, String) {
    let kind = classify_query(e);
    (sqlstate(kind), client_message(kind, &e.to_string()))
}

/// A DataFusion error met outside planning: a batch that failed while rows
/// were already being sent, or a parameter that could not be bound.
pub(crate) fn datafusion_error(e: DataFusionError) -> PgWireError {
    to_pg_error(&QueryError::DataFusion(e))
}

/// An error the frontend itself decides on (protocol misuse, cancellation).
pub(crate) fn kind_error(kind: ErrorKind, message: impl Into<String>) -> PgWireError {
    let message = message.into();
    log(kind, &message);
    PgWireError::UserError(Box::new(response_info(kind, message)))
}

/// During startup any error must close the connection: with `ERROR` pgwire
/// would send ReadyForQuery and leave a client without a session "ready".
pub(crate) fn fatal(e: PgWireError) -> PgWireError {
    let mut info = ErrorInfo::from(e);
    info.severity = "FATAL".to_owned();
    PgWireError::UserError(Box::new(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_info(e: PgWireError) -> ErrorInfo {
        let PgWireError::UserError(info) = e else {
            panic!("expected a user error, got {e:?}");
        };
        *info
    }

    #[test]
    fn kinds_map_to_the_sqlstates_of_the_style_guide() {
        let table = [
            (ErrorKind::InvalidRequest, "22023"),
            (ErrorKind::SchemaConflict, "42804"),
            (ErrorKind::PayloadTooLarge, "54000"),
            (ErrorKind::QuerySyntax, "42601"),
            (ErrorKind::UnknownTable, "42P01"),
            (ErrorKind::UnknownColumn, "42703"),
            (ErrorKind::UnknownFunction, "42883"),
            (ErrorKind::TypeMismatch, "42804"),
            (ErrorKind::DatabaseNotFound, "3D000"),
            (ErrorKind::Unsupported, "0A000"),
            (ErrorKind::Unauthenticated, "28P01"),
            (ErrorKind::Forbidden, "42501"),
            (ErrorKind::RateLimited, "53300"),
            (ErrorKind::Backpressure, "53000"),
            (ErrorKind::ResourcesExhausted, "53200"),
            (ErrorKind::Timeout, "57014"),
            (ErrorKind::Cancelled, "57014"),
            (ErrorKind::ShuttingDown, "57P01"),
            (ErrorKind::StorageUnavailable, "58030"),
            (ErrorKind::CatalogConflict, "40001"),
            (ErrorKind::Internal, "XX000"),
            (ErrorKind::Protocol, "08P01"),
        ];
        for (kind, code) in table {
            assert_eq!(sqlstate(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let e = QueryError::Sql(SqlError::Syntax { message: "Expected: an expression".into(), position: Some(8) });
        let info = error_info(to_pg_error(&e));
        assert_eq!(info.code, "42601");
        assert_eq!(info.severity, "ERROR");
        assert_eq!(info.position.as_deref(), Some("8"));
    }

    #[test]
    fn internal_errors_hide_their_details() {
        let e = QueryError::DataFusion(DataFusionError::Internal("secret invariant".into()));
        let info = error_info(to_pg_error(&e));
        assert_eq!(info.code, "XX000");
        assert!(!info.message.contains("secret"), "{}", info.message);
    }

    #[test]
    fn errors_inside_a_stream_are_classified_like_planning_errors() {
        let e = DataFusionError::ResourcesExhausted("query memory pool".into());
        assert_eq!(error_info(datafusion_error(e)).code, "53200");
    }

    #[test]
    fn startup_errors_become_fatal() {
        let info = error_info(fatal(to_pg_error(&QueryError::DatabaseNotFound("nope".into()))));
        assert_eq!(info.code, "3D000");
        assert!(info.is_fatal());
    }
}
