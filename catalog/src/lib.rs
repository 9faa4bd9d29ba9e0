//! The sediment catalog: which databases, tables, columns and Parquet files exist.
//!
//! ```text
//!  readers ── snapshot() ──▶ Arc<CatalogState>      (cheap, immutable)
//!  writers ── apply(ops) ──▶ op::apply (pure) ──▶ store: create log/<seq> ──▶ new snapshot
//!                                                    │ lost the race?
//!                                                    └─ reload, re-apply, retry
//! ```
//!
//! Every change is durable in the object store before any reader can see it.
//! Two processes on the same bucket never overwrite each other's versions:
//! the store's create-if-absent decides who owns each version number.
//!
//! | module | owns |
//! |---|---|
//! | `model` | ids, names, databases, tables, columns, files |
//! | `op` | the mutations and their pure `apply` |
//! | `partition` | timestamps to partition keys, time ranges |
//! | `store` | the log and checkpoints in object storage |
//! | `format` | the frozen on-disk records |

mod error;
mod format;
mod model;
mod op;
mod partition;
mod store;

use std::sync::{Arc, RwLock};

use object_store::ObjectStore;

pub use crate::error::{CatalogError, Result};
pub use crate::model::{
    CatalogSeq, CatalogState, Column, ColumnId, ColumnKind, Database, DbId, FieldType, MAX_NAME_LEN, ParquetFile,
    RetentionPolicy, TIME_COLUMN, Table, TableId, User, validate_name,
};
pub use crate::op::{CatalogOp, MAX_COLUMNS_PER_TABLE};
pub use crate::partition::{NANOS_PER_DAY, TimeRange, any_overlap, day_key, day_of, day_range, partition_key};
use crate::store::{CatalogStore, Commit};

/// How often a writer retries after losing a version to another writer.
const MAX_COMMIT_ATTEMPTS: usize = 16;

/// The catalog handle shared by the whole server.
#[derive(Debug)]
pub struct Catalog {
    store: CatalogStore,
    current: RwLock<Arc<CatalogState>>,
    /// Serialises this process's writers; other processes are fenced by the store.
    commit_lock: futures::lock::Mutex<()>,
}

impl Catalog {
    /// Loads the newest committed state from `store` (an empty catalog if there is none).
    ///
    /// # Errors
    /// Storage failures, and any record that does not decode or apply ([`CatalogError::Corrupt`]).
    pub async fn load(store: Arc<dyn ObjectStore>) -> Result<Self> {
        let store = CatalogStore::new(store);
        let state = store.load().await?;
        tracing::info!(seq = state.seq.0, databases = state.databases.len(), "catalog loaded");
        Ok(Self { store, current: RwLock::new(Arc::new(state)), commit_lock: futures::lock::Mutex::new(()) })
    }

    /// The current state. It never changes; call again to see newer versions.
    pub fn snapshot(&self) -> Arc<CatalogState> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Catches up with versions other processes (such as `sediment user create`)
    /// committed since this one loaded.
    ///
    /// # Errors
    /// Storage failures and corrupt records.
    pub async fn refresh(&self) -> Result<Arc<CatalogState>> {
        let _guard = self.commit_lock.lock().await;
        let mut state = (*self.snapshot()).clone();
        self.store.catch_up(&mut state).await?;
        let state = Arc::new(state);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&state);
        Ok(state)
    }

    /// Commits `ops` as one new version and returns it. Durable when this returns `Ok`.
    ///
    /// # Errors
    /// The ops do not fit the newest state (for example a [`CatalogError::TypeConflict`]),
    /// storage failed, or other writers kept winning ([`CatalogError::Conflict`]).
    pub async fn apply(&self, ops: Vec<CatalogOp>) -> Result<Arc<CatalogState>> {
        let _guard = self.commit_lock.lock().await;
        let mut base = (*self.snapshot()).clone();
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let next = op::apply(&base, &ops)?;
            match self.store.commit(&next, &ops).await? {
                Commit::Won => {
                    let next = Arc::new(next);
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&next);
                    return Ok(next);
                }
                Commit::Lost => {
                    tracing::info!(seq = next.seq.0, "catalog version taken by another writer; reloading");
                    self.store.catch_up(&mut base).await?;
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(base.clone());
                }
            }
        }
        Err(CatalogError::Conflict { seq: base.seq.0 + 1 })
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn create(name: &str) -> Vec<CatalogOp> {
        vec![CatalogOp::CreateDatabase { name: name.into() }]
    }

    #[tokio::test]
    async fn committed_versions_survive_a_reload() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let catalog = Catalog::load(Arc::clone(&store)).await.expect("loads");
        for i in 0..105 {
            catalog.apply(create(&format!("db{i}"))).await.expect("applies");
        }
        let reloaded = Catalog::load(store).await.expect("reloads");
        assert_eq!(*reloaded.snapshot(), *catalog.snapshot());
        assert_eq!(reloaded.snapshot().seq, CatalogSeq(105));
    }

    #[tokio::test]
    async fn a_second_writer_is_detected_and_never_overwritten() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a = Catalog::load(Arc::clone(&store)).await.expect("loads");
        let b = Catalog::load(Arc::clone(&store)).await.expect("loads");
        a.apply(create("from_a")).await.expect("a commits version 1");
        // b still believes version 0 is current: its first try loses, it reloads and takes version 2.
        let after_b = b.apply(create("from_b")).await.expect("b commits after reloading");
        assert_eq!(after_b.seq, CatalogSeq(2));
        assert!(after_b.database("from_a").is_some(), "b's version includes a's change");
        let reloaded = Catalog::load(store).await.expect("reloads");
        assert!(reloaded.snapshot().database("from_a").is_some());
        assert!(reloaded.snapshot().database("from_b").is_some());
    }
}
