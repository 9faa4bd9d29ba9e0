//! The in-memory metadata model: databases, tables, columns and Parquet files.
//! These types are what readers see through a snapshot; `format.rs` owns how
//! they are written down.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{CatalogError, Result};
use crate::partition::TimeRange;

/// Identifies a database for the life of the catalog (names can be reused after a drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbId(pub u32);

/// Identifies a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId(pub u32);

/// Identifies a column within its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnId(pub u32);

/// The version number of a committed catalog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CatalogSeq(pub u64);

/// Maximum length of a database, table or column name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// The name of the time column every table has.
pub const TIME_COLUMN: &str = "time";

/// Checks a database, table or column name once, at the edge.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "names must not be empty"
    } else if name.len() > MAX_NAME_LEN {
        "names must be at most 255 bytes"
    } else if !name.bytes().all(|b| (0x20..0x7f).contains(&b)) && name.chars().any(char::is_control) {
        "names must not contain control characters"
    } else {
        return Ok(());
    };
    Err(CatalogError::InvalidName { name: name.to_owned(), reason })
}

/// The type of a field column, fixed by its first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Float,
    Integer,
    UInteger,
    String,
    Boolean,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::UInteger => "unsigned",
            Self::String => "string",
            Self::Boolean => "boolean",
        })
    }
}

/// What a column is in the InfluxDB data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Part of the series key; a string.
    Tag,
    Field(FieldType),
    /// Nanoseconds since the epoch, UTC, never null.
    Time,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag => f.write_str("tag"),
            Self::Field(t) => write!(f, "{t} field"),
            Self::Time => f.write_str("time"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub id: ColumnId,
    pub name: String,
    pub kind: ColumnKind,
}

/// One immutable Parquet file of a table, inside one time partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetFile {
    /// Unique within the catalog; also the file name.
    pub id: String,
    /// Object-store key relative to the store's prefix.
    pub path: String,
    /// The partition key (`YYYY-MM-DD` for daily partitions).
    pub partition: String,
    /// Smallest and largest `time` in the file (both inclusive).
    pub min_time: i64,
    pub max_time: i64,
    pub rows: u64,
    pub size_bytes: u64,
    /// Monotonic order in which files were written; a higher number holds later writes.
    pub generation: u64,
}

impl ParquetFile {
    /// The half-open time range the file covers.
    pub fn time_range(&self) -> TimeRange {
        TimeRange::new(self.min_time, self.max_time.saturating_add(1))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: TableId,
    pub name: String,
    /// In creation order; `time` is always first.
    pub columns: Vec<Column>,
    /// Live files, in generation order.
    pub files: Vec<ParquetFile>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Tag columns in creation order: the sort key of every Parquet file, before `time`.
    pub fn tag_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.kind == ColumnKind::Tag)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub id: DbId,
    pub name: String,
    /// Retention in nanoseconds (the default policy's); `None` keeps data forever.
    pub retention_ns: Option<i64>,
    pub tables: BTreeMap<String, Table>,
    /// InfluxQL retention policies. Empty means the implicit `autogen`
    /// (forever, the default); the first policy created makes `autogen` explicit.
    pub retention_policies: BTreeMap<String, RetentionPolicy>,
}

/// An InfluxDB retention policy. The catalog holds it; expiring data by it is
/// a later piece of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub name: String,
    /// Nanoseconds; 0 keeps data forever.
    pub duration_ns: i64,
    pub shard_duration_ns: i64,
    pub replication: u32,
    pub default: bool,
}

impl RetentionPolicy {
    pub const AUTOGEN: &str = "autogen";

    /// InfluxDB 1.x's shard group duration for a retention duration.
    pub fn default_shard_duration(duration_ns: i64) -> i64 {
        const HOUR: i64 = 3_600_000_000_000;
        const DAY: i64 = 24 * HOUR;
        match duration_ns {
            0 => 7 * DAY,
            d if d < 2 * DAY => HOUR,
            d if d <= 180 * DAY => DAY,
            _ => 7 * DAY,
        }
    }

    /// The implicit policy of a database that has none of its own.
    pub fn autogen(retention_ns: Option<i64>) -> Self {
        let duration_ns = retention_ns.unwrap_or(0);
        Self {
            name: Self::AUTOGEN.to_owned(),
            duration_ns,
            shard_duration_ns: Self::default_shard_duration(duration_ns),
            replication: 1,
            default: true,
        }
    }
}

impl Database {
    /// The policies as InfluxQL shows them: the stored ones, or the implicit `autogen`.
    pub fn policies(&self) -> Vec<RetentionPolicy> {
        if self.retention_policies.is_empty() {
            vec![RetentionPolicy::autogen(self.retention_ns)]
        } else {
            self.retention_policies.values().cloned().collect()
        }
    }

    /// The database that holds the points of retention policy `rp` (the
    /// default policy when `None`), or `None` when there is no such policy.
    /// `autogen` lives in the database itself and any other policy in
    /// `<db>/<rp>` (InfluxDB 3's mapping of 1.x's db/rp pairs), so each
    /// policy keeps its own series.
    pub fn policy_database(&self, rp: Option<&str>) -> Option<String> {
        let policies = self.policies();
        let policy = match rp.filter(|r| !r.is_empty()) {
            Some(name) => policies.iter().find(|p| p.name == name)?,
            None => policies.iter().find(|p| p.default).or(policies.first())?,
        };
        Some(Self::storage_name(&self.name, &policy.name))
    }

    /// Where policy `rp` of database `db` keeps its points.
    pub fn storage_name(db: &str, rp: &str) -> String {
        if rp == RetentionPolicy::AUTOGEN { db.to_owned() } else { format!("{db}/{rp}") }
    }
}

/// A user who may log in over the Postgres protocol. Only derived secrets are
/// kept: the SCRAM-SHA-256 salted password (which also checks cleartext
/// passwords) and Postgres' `md5(password || name)` for MD5 logins.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub salted_password: Vec<u8>,
    pub md5: String,
}

impl fmt::Debug for User {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User").field("name", &self.name).finish_non_exhaustive()
    }
}

/// One committed version of the whole catalog. Readers hold it as an `Arc`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogState {
    pub seq: CatalogSeq,
    pub databases: BTreeMap<String, Database>,
    pub users: BTreeMap<String, User>,
    /// WAL segments up to and including this number are fully in Parquet.
    pub wal_persisted_through: u64,
    /// The next id handed out for any database, table or column.
    pub next_id: u32,
    /// The next Parquet file generation.
    pub next_generation: u64,
}

impl CatalogState {
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.get(name)
    }

    pub fn table(&self, db: &str, table: &str) -> Option<&Table> {
        self.databases.get(db)?.tables.get(table)
    }
}
