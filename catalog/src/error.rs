//! The catalog's error type. It names what went wrong in catalog terms only:
//! protocol mappings (HTTP status, SQLSTATE) live in the server crate.

/// A catalog failure.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },

    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },

    #[error("column {column:?} of table {table:?} is {existing}, not {requested}")]
    TypeConflict { table: String, column: String, existing: String, requested: String },

    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error("limit exceeded: {0}")]
    LimitExceeded(String),

    #[error("another writer committed catalog version {seq} first and retries ran out")]
    Conflict { seq: u64 },

    #[error("catalog storage: {0}")]
    Storage(#[from] object_store::Error),

    #[error("catalog record {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
