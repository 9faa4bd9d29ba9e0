//! `ErrorKind`: the one small, closed classification of every error in
//! sediment, and the functions that classify each crate's errors into it.
//!
//! Frontends map a kind to a protocol answer exactly once: `http/error.rs` to a
//! status and body, `pgwire/error.rs` to a SQLSTATE. Matches here are
//! exhaustive on our own enums, so a new variant forces a decision.

use datafusion::error::DataFusionError;
use sediment_catalog::CatalogError;
use sediment_sql::SqlError;

use crate::ingest::IngestError;
use crate::query::QueryError;
use crate::query::influxql::InfluxqlError;
use crate::storage::persist::PersistError;
use crate::storage::wal::WalError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidRequest,
    UnsupportedMedia,
    LineProtocolSyntax,
    PartialWrite,
    SchemaConflict,
    LimitExceeded,
    PayloadTooLarge,
    QuerySyntax,
    UnknownTable,
    UnknownColumn,
    UnknownFunction,
    TypeMismatch,
    DataException,
    DatabaseNotFound,
    AlreadyExists,
    Unsupported,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Backpressure,
    ResourcesExhausted,
    Timeout,
    Cancelled,
    ShuttingDown,
    StorageUnavailable,
    CatalogConflict,
    Internal,
    Protocol,
    Routing,
}

impl ErrorKind {
    /// Kinds an operator should hear about; the rest are the client's business.
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            Self::Backpressure
                | Self::ResourcesExhausted
                | Self::ShuttingDown
                | Self::StorageUnavailable
                | Self::CatalogConflict
                | Self::Internal
        )
    }
}

pub fn classify_catalog(e: &CatalogError) -> ErrorKind {
    match e {
        CatalogError::NotFound { kind: "database", .. } => ErrorKind::DatabaseNotFound,
        CatalogError::NotFound { .. } => ErrorKind::UnknownTable,
        CatalogError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        CatalogError::TypeConflict { .. } => ErrorKind::SchemaConflict,
        CatalogError::InvalidName { .. } => ErrorKind::InvalidRequest,
        CatalogError::LimitExceeded(_) => ErrorKind::LimitExceeded,
        CatalogError::Conflict { .. } => ErrorKind::CatalogConflict,
        CatalogError::Storage(_) => ErrorKind::StorageUnavailable,
        CatalogError::Corrupt { .. } => ErrorKind::Internal,
    }
}

pub fn classify_ingest(e: &IngestError) -> ErrorKind {
    match e {
        IngestError::InvalidDatabase(_) => ErrorKind::InvalidRequest,
        IngestError::Catalog(e) => classify_catalog(e),
        IngestError::Wal(e) => classify_wal(e),
        IngestError::Backpressure { .. } => ErrorKind::Backpressure,
    }
}

pub fn classify_wal(e: &WalError) -> ErrorKind {
    match e {
        WalError::Io { .. } | WalError::Store(_) => ErrorKind::StorageUnavailable,
        WalError::Corrupt { .. } => ErrorKind::Internal,
        WalError::Closed => ErrorKind::ShuttingDown,
    }
}

pub fn classify_persist(e: &PersistError) -> ErrorKind {
    match e {
        PersistError::Encode { .. } | PersistError::Arrow { .. } | PersistError::MissingTable { .. } => {
            ErrorKind::Internal
        }
        PersistError::Upload { .. } | PersistError::Read { .. } => ErrorKind::StorageUnavailable,
        PersistError::Decode { .. } => ErrorKind::Internal,
        PersistError::Catalog(e) => classify_catalog(e),
        PersistError::Wal(e) => classify_wal(e),
    }
}

pub fn classify_query(e: &QueryError) -> ErrorKind {
    match e {
        QueryError::DatabaseNotFound(_) => ErrorKind::DatabaseNotFound,
        QueryError::UnknownTable(_) => ErrorKind::UnknownTable,
        QueryError::Sql(e) => classify_sql(e),
        QueryError::DataFusion(e) => classify_datafusion(e),
    }
}

pub fn classify_influxql(e: &InfluxqlError) -> ErrorKind {
    match e {
        InfluxqlError::DatabaseRequired
        | InfluxqlError::Condition(_)
        | InfluxqlError::Regex(..)
        | InfluxqlError::Invalid(_)
        | InfluxqlError::Catalog(_) => ErrorKind::InvalidRequest,
        InfluxqlError::DatabaseNotFound(_) => ErrorKind::DatabaseNotFound,
        InfluxqlError::Unsupported(_) => ErrorKind::Unsupported,
        InfluxqlError::Query(e) => classify_query(e),
        InfluxqlError::Storage(e) => classify_persist(e),
    }
}

pub fn classify_sql(e: &SqlError) -> ErrorKind {
    match e {
        SqlError::Syntax { .. } => ErrorKind::QuerySyntax,
        SqlError::Forbidden(_) => ErrorKind::Forbidden,
        SqlError::Unsupported(_) => ErrorKind::Unsupported,
        SqlError::Plan(e) => classify_datafusion(e),
    }
}

/// Unwraps DataFusion's wrappers down to the error that says what happened.
pub fn classify_datafusion(e: &DataFusionError) -> ErrorKind {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => classify_datafusion(inner),
        DataFusionError::Shared(inner) => classify_datafusion(inner),
        DataFusionError::Collection(errors) => errors.first().map_or(ErrorKind::Internal, classify_datafusion),
        DataFusionError::External(inner) => classify_external(inner.as_ref()),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            arrow::error::ArrowError::ExternalError(inner) => classify_external(inner.as_ref()),
            arrow::error::ArrowError::DivideByZero
            | arrow::error::ArrowError::ArithmeticOverflow(_)
            | arrow::error::ArrowError::CastError(_)
            | arrow::error::ArrowError::ParseError(_)
            | arrow::error::ArrowError::ComputeError(_) => ErrorKind::DataException,
            _ => ErrorKind::Internal,
        },
        DataFusionError::SQL(..) => ErrorKind::QuerySyntax,
        DataFusionError::SchemaError(inner, _) => match inner.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { .. } => ErrorKind::UnknownColumn,
            _ => ErrorKind::QuerySyntax,
        },
        // DataFusion reports these only as text; the planner's words are its API here.
        DataFusionError::Plan(message) if message.contains("Invalid function") => ErrorKind::UnknownFunction,
        DataFusionError::Plan(message) if message.contains("table") && message.contains("not found") => {
            ErrorKind::UnknownTable
        }
        DataFusionError::Plan(message)
            if message.contains("No function matches") || message.contains("Cannot coerce") =>
        {
            ErrorKind::TypeMismatch
        }
        DataFusionError::Plan(_) => ErrorKind::QuerySyntax,
        DataFusionError::NotImplemented(_) => ErrorKind::Unsupported,
        DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourcesExhausted,
        DataFusionError::Execution(message) if message.contains("Divide by zero") => ErrorKind::DataException,
        DataFusionError::Execution(message) if message.contains("Cannot cast") || message.contains("Error parsing") => {
            ErrorKind::DataException
        }
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => ErrorKind::StorageUnavailable,
        DataFusionError::Configuration(_) => ErrorKind::InvalidRequest,
        DataFusionError::Execution(_)
        | DataFusionError::ExecutionJoin(_)
        | DataFusionError::Internal(_)
        | DataFusionError::ParquetError(_)
        | DataFusionError::Substrait(_)
        | DataFusionError::Ffi(_) => ErrorKind::Internal,
    }
}

fn classify_external(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ErrorKind {
    if let Some(e) = e.downcast_ref::<QueryError>() {
        classify_query(e)
    } else if let Some(e) = e.downcast_ref::<DataFusionError>() {
        classify_datafusion(e)
    } else if let Some(e) = e.downcast_ref::<SqlError>() {
        classify_sql(e)
    } else {
        ErrorKind::Internal
    }
}

/// The message a client may see: internal details are replaced by an opaque text.
pub fn client_message(kind: ErrorKind, message: &str) -> String {
    match kind {
        ErrorKind::Internal => "internal error; the server log has the details".to_owned(),
        _ => message.trim_start_matches("External error: ").to_owned(),
    }
}
