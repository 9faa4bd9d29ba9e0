//! Every catalog mutation is one [`CatalogOp`]. [`apply`] is pure: it checks the
//! ops against a state and returns the next state, or says why it cannot.
//!
//! Creating what already exists with the same shape is a no-op, so two writers
//! that race to create the same table or column both succeed; creating it with
//! another type is a [`CatalogError::TypeConflict`].

use std::collections::BTreeMap;

use crate::error::{CatalogError, Result};
use crate::model::{
    CatalogSeq, CatalogState, Column, ColumnId, ColumnKind, Database, DbId, ParquetFile, RetentionPolicy, TIME_COLUMN,
    Table, TableId, User, validate_name,
};

/// Upper bound on columns per table, so one bad client cannot make a table unqueryable.
pub const MAX_COLUMNS_PER_TABLE: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub enum CatalogOp {
    CreateDatabase {
        name: String,
    },
    /// Creates the table with its `time` column.
    CreateTable {
        db: String,
        table: String,
    },
    AddColumns {
        db: String,
        table: String,
        columns: Vec<(String, ColumnKind)>,
    },
    /// Registers persisted files; `generation` is assigned by `apply`.
    AddFiles {
        db: String,
        table: String,
        files: Vec<ParquetFile>,
    },
    RemoveFiles {
        db: String,
        table: String,
        file_ids: Vec<String>,
    },
    /// Records that WAL segments up to `through` are in Parquet and may be deleted.
    SetWalPersisted {
        through: u64,
    },
    /// Creates a user or replaces its password.
    SetUser {
        user: User,
    },
    DropUser {
        name: String,
    },
    /// Creates or replaces a retention policy; with `default` set, the others lose it.
    SetRetentionPolicy {
        db: String,
        policy: RetentionPolicy,
    },
    DropRetentionPolicy {
        db: String,
        name: String,
    },
    /// Forgets a database, its tables and their files (an InfluxQL DROP DATABASE).
    /// Dropping one that does not exist is no error, as in 1.x.
    DropDatabase {
        name: String,
    },
    /// Forgets a table and its files (DROP MEASUREMENT); absent is no error.
    DropTable {
        db: String,
        table: String,
    },
}

/// Applies `ops` in order to `state`, giving the state of version `state.seq + 1`.
///
/// # Errors
/// The first op that does not fit the state; nothing is applied then.
pub(crate) fn apply(state: &CatalogState, ops: &[CatalogOp]) -> Result<CatalogState> {
    let mut next = state.clone();
    for op in ops {
        apply_one(&mut next, op)?;
    }
    next.seq = CatalogSeq(state.seq.0 + 1);
    Ok(next)
}

fn apply_one(state: &mut CatalogState, op: &CatalogOp) -> Result<()> {
    match op {
        CatalogOp::CreateDatabase { name } => {
            validate_name(name)?;
            if !state.databases.contains_key(name) {
                let id = DbId(take_id(state));
                state.databases.insert(
                    name.clone(),
                    Database {
                        id,
                        name: name.clone(),
                        retention_ns: None,
                        tables: BTreeMap::new(),
                        retention_policies: BTreeMap::new(),
                    },
                );
            }
        }
        CatalogOp::CreateTable { db, table } => {
            validate_name(table)?;
            let id = TableId(take_id(state));
            let time_id = ColumnId(take_id(state));
            let database = database_mut(state, db)?;
            database.tables.entry(table.clone()).or_insert_with(|| Table {
                id,
                name: table.clone(),
                columns: vec![Column { id: time_id, name: TIME_COLUMN.to_owned(), kind: ColumnKind::Time }],
                files: Vec::new(),
            });
        }
        CatalogOp::AddColumns { db, table, columns } => {
            for (name, kind) in columns {
                validate_name(name)?;
                let id = ColumnId(take_id(state));
                let t = table_mut(state, db, table)?;
                match t.column(name) {
                    Some(existing) if existing.kind == *kind => {}
                    Some(existing) => {
                        return Err(CatalogError::TypeConflict {
                            table: table.clone(),
                            column: name.clone(),
                            existing: existing.kind.to_string(),
                            requested: kind.to_string(),
                        });
                    }
                    None if t.columns.len() >= MAX_COLUMNS_PER_TABLE => {
                        return Err(CatalogError::LimitExceeded(format!(
                            "table {table:?} already has {MAX_COLUMNS_PER_TABLE} columns"
                        )));
                    }
                    None => t.columns.push(Column { id, name: name.clone(), kind: *kind }),
                }
            }
        }
        CatalogOp::AddFiles { db, table, files } => {
            let first_generation = state.next_generation;
            state.next_generation += files.len() as u64;
            let t = table_mut(state, db, table)?;
            for (i, file) in files.iter().enumerate() {
                let mut file = file.clone();
                file.generation = first_generation + i as u64;
                t.files.push(file);
            }
        }
        CatalogOp::RemoveFiles { db, table, file_ids } => {
            let t = table_mut(state, db, table)?;
            t.files.retain(|f| !file_ids.contains(&f.id));
        }
        CatalogOp::SetUser { user } => {
            validate_name(&user.name)?;
            state.users.insert(user.name.clone(), user.clone());
        }
        CatalogOp::DropUser { name } => {
            if state.users.remove(name).is_none() {
                return Err(CatalogError::NotFound { kind: "user", name: name.clone() });
            }
        }
        CatalogOp::SetRetentionPolicy { db, policy } => {
            validate_name(&policy.name)?;
            let d = database_mut(state, db)?;
            if d.retention_policies.is_empty() {
                let autogen = RetentionPolicy::autogen(d.retention_ns);
                d.retention_policies.insert(autogen.name.clone(), autogen);
            }
            if policy.default {
                for other in d.retention_policies.values_mut() {
                    other.default = false;
                }
            }
            d.retention_policies.insert(policy.name.clone(), policy.clone());
            sync_retention(d);
        }
        CatalogOp::DropRetentionPolicy { db, name } => {
            let d = database_mut(state, db)?;
            if d.retention_policies.is_empty() && name == RetentionPolicy::AUTOGEN {
                // Dropping the implicit policy leaves the database with none.
                d.retention_policies
                    .insert(name.clone(), RetentionPolicy { default: false, ..RetentionPolicy::autogen(None) });
            }
            if d.retention_policies.remove(name).is_none() {
                return Err(CatalogError::NotFound { kind: "retention policy", name: format!("{db}.{name}") });
            }
            sync_retention(d);
        }
        CatalogOp::DropDatabase { name } => {
            state.databases.remove(name);
        }
        CatalogOp::DropTable { db, table } => {
            if let Some(database) = state.databases.get_mut(db) {
                database.tables.remove(table);
            }
        }
        CatalogOp::SetWalPersisted { through } => {
            state.wal_persisted_through = state.wal_persisted_through.max(*through);
        }
    }
    Ok(())
}

/// The database's retention is its default policy's.
fn sync_retention(d: &mut Database) {
    d.retention_ns = d.retention_policies.values().find(|p| p.default).map(|p| p.duration_ns).filter(|n| *n > 0);
}

fn take_id(state: &mut CatalogState) -> u32 {
    let id = state.next_id;
    state.next_id += 1;
    id
}

fn database_mut<'a>(state: &'a mut CatalogState, db: &str) -> Result<&'a mut Database> {
    state.databases.get_mut(db).ok_or_else(|| CatalogError::NotFound { kind: "database", name: db.to_owned() })
}

fn table_mut<'a>(state: &'a mut CatalogState, db: &str, table: &str) -> Result<&'a mut Table> {
    database_mut(state, db)?
        .tables
        .get_mut(table)
        .ok_or_else(|| CatalogError::NotFound { kind: "table", name: format!("{db}.{table}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldType;

    fn setup() -> CatalogState {
        apply(
            &CatalogState::default(),
            &[
                CatalogOp::CreateDatabase { name: "db".into() },
                CatalogOp::CreateTable { db: "db".into(), table: "cpu".into() },
                CatalogOp::AddColumns {
                    db: "db".into(),
                    table: "cpu".into(),
                    columns: vec![
                        ("host".into(), ColumnKind::Tag),
                        ("usage".into(), ColumnKind::Field(FieldType::Float)),
                    ],
                },
            ],
        )
        .expect("setup applies")
    }

    #[test]
    fn new_table_has_time_first_then_columns_in_creation_order() {
        let state = setup();
        let names: Vec<_> = state.table("db", "cpu").expect("table").columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["time", "host", "usage"]);
        assert_eq!(state.seq, CatalogSeq(1));
    }

    #[test]
    fn recreating_the_same_column_is_a_no_op() {
        let state = setup();
        let again = apply(
            &state,
            &[CatalogOp::AddColumns {
                db: "db".into(),
                table: "cpu".into(),
                columns: vec![("usage".into(), ColumnKind::Field(FieldType::Float))],
            }],
        )
        .expect("same type is fine");
        assert_eq!(again.table("db", "cpu").expect("table").columns.len(), 3);
    }

    #[test]
    fn a_field_keeps_its_first_type() {
        let state = setup();
        let err = apply(
            &state,
            &[CatalogOp::AddColumns {
                db: "db".into(),
                table: "cpu".into(),
                columns: vec![("usage".into(), ColumnKind::Field(FieldType::String))],
            }],
        )
        .expect_err("type conflict");
        assert!(matches!(err, CatalogError::TypeConflict { .. }), "{err}");
    }

    #[test]
    fn files_get_increasing_generations() {
        let state = setup();
        let file = |id: &str| ParquetFile {
            id: id.into(),
            path: format!("data/db/cpu/1970-01-01/{id}.parquet"),
            partition: "1970-01-01".into(),
            min_time: 0,
            max_time: 5,
            rows: 1,
            size_bytes: 10,
            generation: 0,
        };
        let add = |s: &CatalogState, id: &str| {
            apply(s, &[CatalogOp::AddFiles { db: "db".into(), table: "cpu".into(), files: vec![file(id)] }])
                .expect("adds")
        };
        let s = add(&add(&state, "a"), "b");
        let gens: Vec<_> = s.table("db", "cpu").expect("table").files.iter().map(|f| f.generation).collect();
        assert_eq!(gens, [0, 1]);
        let s =
            apply(&s, &[CatalogOp::RemoveFiles { db: "db".into(), table: "cpu".into(), file_ids: vec!["a".into()] }])
                .expect("removes");
        assert_eq!(s.table("db", "cpu").expect("table").files.len(), 1);
    }

    #[test]
    fn ops_on_missing_objects_fail_without_partial_effects() {
        let state = setup();
        let err = apply(
            &state,
            &[
                CatalogOp::CreateDatabase { name: "other".into() },
                CatalogOp::CreateTable { db: "missing".into(), table: "t".into() },
            ],
        )
        .expect_err("missing db");
        assert!(matches!(err, CatalogError::NotFound { .. }));
        assert!(state.database("other").is_none());
    }

    #[test]
    fn drops_forget_tables_and_databases_and_tolerate_absence() {
        let state = setup();
        let dropped = apply(&state, &[CatalogOp::DropTable { db: "db".into(), table: "cpu".into() }]).expect("drops");
        assert!(dropped.table("db", "cpu").is_none());
        assert!(dropped.database("db").is_some());
        let again = apply(&dropped, &[CatalogOp::DropTable { db: "db".into(), table: "cpu".into() }]).expect("no-op");
        let gone = apply(&again, &[CatalogOp::DropDatabase { name: "db".into() }]).expect("drops the database");
        assert!(gone.database("db").is_none());
        apply(&gone, &[CatalogOp::DropDatabase { name: "db".into() }])
            .expect("dropping a missing database is no error");
    }
}
