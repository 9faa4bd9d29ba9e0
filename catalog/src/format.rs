//! The on-disk records of the catalog: frozen, versioned, separate from `model.rs`.
//!
//! Every record carries `"version"`. A change to the shape adds a new version
//! (new fields get `#[serde(default)]`); versions once written are never changed,
//! and `tests/fixtures/` holds one file of each to prove they still load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::model::{
    CatalogSeq, CatalogState, Column, ColumnId, ColumnKind, Database, DbId, FieldType, ParquetFile, RetentionPolicy,
    Table, TableId, User,
};
use crate::op::CatalogOp;

/// One log entry: the ops that turn version `seq - 1` into version `seq`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum LogRecord {
    #[serde(rename = "1")]
    V1 { seq: u64, ops: Vec<OpV1> },
}

/// A checkpoint: the whole state at version `seq`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum CheckpointRecord {
    #[serde(rename = "1")]
    V1(StateV1),
}

#[derive(Debug, Serialize, Deserialize)]
struct StateV1 {
    seq: u64,
    next_id: u32,
    next_generation: u64,
    wal_persisted_through: u64,
    databases: Vec<DatabaseV1>,
    #[serde(default)]
    users: Vec<UserV1>,
}

/// Secrets as lowercase hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserV1 {
    name: String,
    salt: String,
    iterations: u32,
    salted_password: String,
    md5: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct DatabaseV1 {
    id: u32,
    name: String,
    #[serde(default)]
    retention_ns: Option<i64>,
    tables: Vec<TableV1>,
    #[serde(default)]
    retention_policies: Vec<RetentionPolicyV1>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RetentionPolicyV1 {
    name: String,
    duration_ns: i64,
    shard_duration_ns: i64,
    replication: u32,
    default: bool,
}

fn policy_to_v1(p: &RetentionPolicy) -> RetentionPolicyV1 {
    RetentionPolicyV1 {
        name: p.name.clone(),
        duration_ns: p.duration_ns,
        shard_duration_ns: p.shard_duration_ns,
        replication: p.replication,
        default: p.default,
    }
}

fn policy_from_v1(p: RetentionPolicyV1) -> RetentionPolicy {
    RetentionPolicy {
        name: p.name,
        duration_ns: p.duration_ns,
        shard_duration_ns: p.shard_duration_ns,
        replication: p.replication,
        default: p.default,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TableV1 {
    id: u32,
    name: String,
    columns: Vec<ColumnV1>,
    files: Vec<FileV1>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ColumnV1 {
    id: u32,
    name: String,
    kind: KindV1,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindV1 {
    Tag,
    Time,
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileV1 {
    id: String,
    path: String,
    partition: String,
    min_time: i64,
    max_time: i64,
    rows: u64,
    size_bytes: u64,
    generation: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum OpV1 {
    CreateDatabase { name: String },
    CreateTable { db: String, table: String },
    AddColumns { db: String, table: String, columns: Vec<(String, KindV1)> },
    AddFiles { db: String, table: String, files: Vec<FileV1> },
    RemoveFiles { db: String, table: String, file_ids: Vec<String> },
    SetWalPersisted { through: u64 },
    SetUser { user: UserV1 },
    DropUser { name: String },
    SetRetentionPolicy { db: String, policy: RetentionPolicyV1 },
    DropRetentionPolicy { db: String, name: String },
    DropDatabase { name: String },
    DropTable { db: String, table: String },
}

pub(crate) fn encode_log(seq: CatalogSeq, ops: &[CatalogOp]) -> Vec<u8> {
    let record = LogRecord::V1 { seq: seq.0, ops: ops.iter().map(op_to_v1).collect() };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&record).unwrap_or_default()
}

pub(crate) fn decode_log(path: &str, bytes: &[u8]) -> Result<(CatalogSeq, Vec<CatalogOp>)> {
    let record: LogRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(path, e))?;
    match record {
        LogRecord::V1 { seq, ops } => Ok((CatalogSeq(seq), ops.into_iter().map(op_from_v1).collect())),
    }
}

pub(crate) fn encode_checkpoint(state: &CatalogState) -> Vec<u8> {
    let record = CheckpointRecord::V1(StateV1 {
        seq: state.seq.0,
        next_id: state.next_id,
        next_generation: state.next_generation,
        wal_persisted_through: state.wal_persisted_through,
        users: state.users.values().map(user_to_v1).collect(),
        databases: state
            .databases
            .values()
            .map(|db| DatabaseV1 {
                id: db.id.0,
                name: db.name.clone(),
                retention_ns: db.retention_ns,
                retention_policies: db.retention_policies.values().map(policy_to_v1).collect(),
                tables: db
                    .tables
                    .values()
                    .map(|t| TableV1 {
                        id: t.id.0,
                        name: t.name.clone(),
                        columns: t
                            .columns
                            .iter()
                            .map(|c| ColumnV1 { id: c.id.0, name: c.name.clone(), kind: kind_to_v1(c.kind) })
                            .collect(),
                        files: t.files.iter().map(file_to_v1).collect(),
                    })
                    .collect(),
            })
            .collect(),
    });
    serde_json::to_vec(&record).unwrap_or_default()
}

pub(crate) fn decode_checkpoint(path: &str, bytes: &[u8]) -> Result<CatalogState> {
    let record: CheckpointRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(path, e))?;
    let CheckpointRecord::V1(s) = record;
    Ok(CatalogState {
        seq: CatalogSeq(s.seq),
        next_id: s.next_id,
        next_generation: s.next_generation,
        wal_persisted_through: s.wal_persisted_through,
        users: s.users.into_iter().map(|u| (u.name.clone(), user_from_v1(u))).collect(),
        databases: s
            .databases
            .into_iter()
            .map(|db| {
                let tables = db
                    .tables
                    .into_iter()
                    .map(|t| {
                        let table = Table {
                            id: TableId(t.id),
                            name: t.name.clone(),
                            columns: t
                                .columns
                                .into_iter()
                                .map(|c| Column { id: ColumnId(c.id), name: c.name, kind: kind_from_v1(c.kind) })
                                .collect(),
                            files: t.files.into_iter().map(file_from_v1).collect(),
                        };
                        (t.name, table)
                    })
                    .collect::<BTreeMap<_, _>>();
                let database = Database {
                    id: DbId(db.id),
                    name: db.name.clone(),
                    retention_ns: db.retention_ns,
                    tables,
                    retention_policies: db
                        .retention_policies
                        .into_iter()
                        .map(|p| (p.name.clone(), policy_from_v1(p)))
                        .collect(),
                };
                (db.name, database)
            })
            .collect(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Undecodable hex becomes an empty secret, which matches no password.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn user_to_v1(u: &User) -> UserV1 {
    UserV1 {
        name: u.name.clone(),
        salt: hex(&u.salt),
        iterations: u.iterations,
        salted_password: hex(&u.salted_password),
        md5: u.md5.clone(),
    }
}

fn user_from_v1(u: UserV1) -> User {
    User {
        name: u.name,
        salt: unhex(&u.salt),
        iterations: u.iterations,
        salted_password: unhex(&u.salted_password),
        md5: u.md5,
    }
}

fn corrupt(path: &str, e: serde_json::Error) -> CatalogError {
    CatalogError::Corrupt { path: path.to_owned(), reason: e.to_string() }
}

fn kind_to_v1(kind: ColumnKind) -> KindV1 {
    match kind {
        ColumnKind::Tag => KindV1::Tag,
        ColumnKind::Time => KindV1::Time,
        ColumnKind::Field(FieldType::Float) => KindV1::Float,
        ColumnKind::Field(FieldType::Integer) => KindV1::Integer,
        ColumnKind::Field(FieldType::UInteger) => KindV1::Unsigned,
        ColumnKind::Field(FieldType::String) => KindV1::String,
        ColumnKind::Field(FieldType::Boolean) => KindV1::Boolean,
    }
}

fn kind_from_v1(kind: KindV1) -> ColumnKind {
    match kind {
        KindV1::Tag => ColumnKind::Tag,
        KindV1::Time => ColumnKind::Time,
        KindV1::Float => ColumnKind::Field(FieldType::Float),
        KindV1::Integer => ColumnKind::Field(FieldType::Integer),
        KindV1::Unsigned => ColumnKind::Field(FieldType::UInteger),
        KindV1::String => ColumnKind::Field(FieldType::String),
        KindV1::Boolean => ColumnKind::Field(FieldType::Boolean),
    }
}

fn file_to_v1(f: &ParquetFile) -> FileV1 {
    FileV1 {
        id: f.id.clone(),
        path: f.path.clone(),
        partition: f.partition.clone(),
        min_time: f.min_time,
        max_time: f.max_time,
        rows: f.rows,
        size_bytes: f.size_bytes,
        generation: f.generation,
    }
}

fn file_from_v1(f: FileV1) -> ParquetFile {
    ParquetFile {
        id: f.id,
        path: f.path,
        partition: f.partition,
        min_time: f.min_time,
        max_time: f.max_time,
        rows: f.rows,
        size_bytes: f.size_bytes,
        generation: f.generation,
    }
}

fn op_to_v1(op: &CatalogOp) -> OpV1 {
    match op {
        CatalogOp::CreateDatabase { name } => OpV1::CreateDatabase { name: name.clone() },
        CatalogOp::CreateTable { db, table } => OpV1::CreateTable { db: db.clone(), table: table.clone() },
        CatalogOp::AddColumns { db, table, columns } => OpV1::AddColumns {
            db: db.clone(),
            table: table.clone(),
            columns: columns.iter().map(|(n, k)| (n.clone(), kind_to_v1(*k))).collect(),
        },
        CatalogOp::AddFiles { db, table, files } => {
            OpV1::AddFiles { db: db.clone(), table: table.clone(), files: files.iter().map(file_to_v1).collect() }
        }
        CatalogOp::RemoveFiles { db, table, file_ids } => {
            OpV1::RemoveFiles { db: db.clone(), table: table.clone(), file_ids: file_ids.clone() }
        }
        CatalogOp::SetWalPersisted { through } => OpV1::SetWalPersisted { through: *through },
        CatalogOp::SetUser { user } => OpV1::SetUser { user: user_to_v1(user) },
        CatalogOp::DropUser { name } => OpV1::DropUser { name: name.clone() },
        CatalogOp::SetRetentionPolicy { db, policy } => {
            OpV1::SetRetentionPolicy { db: db.clone(), policy: policy_to_v1(policy) }
        }
        CatalogOp::DropRetentionPolicy { db, name } => OpV1::DropRetentionPolicy { db: db.clone(), name: name.clone() },
        CatalogOp::DropDatabase { name } => OpV1::DropDatabase { name: name.clone() },
        CatalogOp::DropTable { db, table } => OpV1::DropTable { db: db.clone(), table: table.clone() },
    }
}

fn op_from_v1(op: OpV1) -> CatalogOp {
    match op {
        OpV1::CreateDatabase { name } => CatalogOp::CreateDatabase { name },
        OpV1::CreateTable { db, table } => CatalogOp::CreateTable { db, table },
        OpV1::AddColumns { db, table, columns } => CatalogOp::AddColumns {
            db,
            table,
            columns: columns.into_iter().map(|(n, k)| (n, kind_from_v1(k))).collect(),
        },
        OpV1::AddFiles { db, table, files } => {
            CatalogOp::AddFiles { db, table, files: files.into_iter().map(file_from_v1).collect() }
        }
        OpV1::RemoveFiles { db, table, file_ids } => CatalogOp::RemoveFiles { db, table, file_ids },
        OpV1::SetWalPersisted { through } => CatalogOp::SetWalPersisted { through },
        OpV1::SetUser { user } => CatalogOp::SetUser { user: user_from_v1(user) },
        OpV1::DropUser { name } => CatalogOp::DropUser { name },
        OpV1::SetRetentionPolicy { db, policy } => CatalogOp::SetRetentionPolicy { db, policy: policy_from_v1(policy) },
        OpV1::DropRetentionPolicy { db, name } => CatalogOp::DropRetentionPolicy { db, name },
        OpV1::DropDatabase { name } => CatalogOp::DropDatabase { name },
        OpV1::DropTable { db, table } => CatalogOp::DropTable { db, table },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::apply;

    const LOG_V1: &str = include_str!("../tests/fixtures/log_v1.json");
    const CHECKPOINT_V1: &str = include_str!("../tests/fixtures/checkpoint_v1.json");

    #[test]
    fn version_1_fixtures_still_load_and_agree() {
        let (seq, ops) = decode_log("log_v1.json", LOG_V1.as_bytes()).expect("log v1 loads");
        assert_eq!(seq, CatalogSeq(1));
        let state = apply(&CatalogState::default(), &ops).expect("ops apply");
        let checkpoint =
            decode_checkpoint("checkpoint_v1.json", CHECKPOINT_V1.as_bytes()).expect("checkpoint v1 loads");
        assert_eq!(state, checkpoint);
    }

    #[test]
    fn checkpoints_round_trip() {
        let (_, ops) = decode_log("log_v1.json", LOG_V1.as_bytes()).expect("log v1 loads");
        let state = apply(&CatalogState::default(), &ops).expect("ops apply");
        let bytes = encode_checkpoint(&state);
        assert_eq!(decode_checkpoint("x", &bytes).expect("decodes"), state);
    }

    #[test]
    fn users_round_trip_through_log_and_checkpoint() {
        let user = User {
            name: "alice".into(),
            salt: vec![0, 1, 0xab, 0xff],
            iterations: 4096,
            salted_password: vec![9; 32],
            md5: "0123456789abcdef0123456789abcdef".into(),
        };
        let ops = vec![CatalogOp::SetUser { user: user.clone() }];
        let (_, decoded) = decode_log("x", &encode_log(CatalogSeq(1), &ops)).expect("decodes");
        assert_eq!(decoded, ops);
        let state = apply(&CatalogState::default(), &decoded).expect("applies");
        assert_eq!(state.users.get("alice"), Some(&user));
        assert_eq!(decode_checkpoint("x", &encode_checkpoint(&state)).expect("decodes"), state);
        let dropped = apply(&state, &[CatalogOp::DropUser { name: "alice".into() }]).expect("drops");
        assert!(dropped.users.is_empty());
        assert!(apply(&dropped, &[CatalogOp::DropUser { name: "alice".into() }]).is_err());
    }

    #[test]
    fn retention_policies_round_trip_and_keep_one_default() {
        let day = 86_400_000_000_000;
        let policy = |name: &str, duration_ns: i64, default: bool| RetentionPolicy {
            name: name.into(),
            duration_ns,
            shard_duration_ns: RetentionPolicy::default_shard_duration(duration_ns),
            replication: 1,
            default,
        };
        let ops = vec![
            CatalogOp::CreateDatabase { name: "db".into() },
            CatalogOp::SetRetentionPolicy { db: "db".into(), policy: policy("two", 2 * day, false) },
            CatalogOp::SetRetentionPolicy { db: "db".into(), policy: policy("week", 7 * day, true) },
        ];
        let (_, decoded) = decode_log("x", &encode_log(CatalogSeq(1), &ops)).expect("decodes");
        assert_eq!(decoded, ops);
        let state = apply(&CatalogState::default(), &decoded).expect("applies");
        let db = state.database("db").expect("db");
        let defaults: Vec<_> = db.policies().into_iter().filter(|p| p.default).map(|p| p.name).collect();
        assert_eq!(defaults, ["week"], "one default, the last one set");
        assert_eq!(db.policies().len(), 3, "autogen became explicit with the first policy");
        assert_eq!(db.retention_ns, Some(7 * day), "the database keeps the default policy's retention");
        assert_eq!(decode_checkpoint("x", &encode_checkpoint(&state)).expect("decodes"), state);
        let dropped =
            apply(&state, &[CatalogOp::DropRetentionPolicy { db: "db".into(), name: "two".into() }]).expect("drops");
        assert_eq!(dropped.database("db").expect("db").policies().len(), 2);
        assert!(apply(&dropped, &[CatalogOp::DropRetentionPolicy { db: "db".into(), name: "two".into() }]).is_err());
    }

    #[test]
    fn garbage_is_reported_as_corrupt_with_its_path() {
        let err = decode_log("catalog/log/7.json", b"{not json").expect_err("corrupt");
        assert!(err.to_string().contains("catalog/log/7.json"), "{err}");
    }
}
