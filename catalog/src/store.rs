//! The catalog in object storage: a numbered log of op records plus checkpoints.
//!
//! ```text
//! catalog/log/00000000000000000001.json        ops of version 1
//! catalog/log/00000000000000000002.json        ops of version 2
//! catalog/checkpoint/00000000000000000100.json the whole state at version 100
//! ```
//!
//! A writer claims version `n` by creating `log/n` with `PutMode::Create`; the
//! store lets exactly one creator win, so two writers can never both commit `n`.
//! The loser reloads the log and tries again. Checkpoints are derived data and
//! only shorten loading.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{CatalogError, Result};
use crate::format;
use crate::model::{CatalogSeq, CatalogState};
use crate::op::{CatalogOp, apply};

/// How many versions pass between checkpoints.
const CHECKPOINT_EVERY: u64 = 100;

#[derive(Debug)]
pub(crate) struct CatalogStore {
    store: Arc<dyn ObjectStore>,
}

/// What happened to an attempt to commit a version.
pub(crate) enum Commit {
    Won,
    /// Another writer already holds that version number.
    Lost,
}

impl CatalogStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    fn log_path(seq: u64) -> Path {
        Path::from(format!("catalog/log/{seq:020}.json"))
    }

    fn checkpoint_path(seq: u64) -> Path {
        Path::from(format!("catalog/checkpoint/{seq:020}.json"))
    }

    /// Loads the newest state: the latest checkpoint plus every log entry after it.
    pub(crate) async fn load(&self) -> Result<CatalogState> {
        let mut checkpoints = self.list_seqs("catalog/checkpoint").await?;
        checkpoints.sort_unstable();
        let mut state = match checkpoints.last() {
            Some(&seq) => {
                let path = Self::checkpoint_path(seq);
                let bytes = self.store.get(&path).await?.bytes().await?;
                format::decode_checkpoint(path.as_ref(), &bytes)?
            }
            None => CatalogState::default(),
        };
        self.catch_up(&mut state).await?;
        Ok(state)
    }

    /// Applies every log entry newer than `state`, in order, until the first gap.
    pub(crate) async fn catch_up(&self, state: &mut CatalogState) -> Result<()> {
        loop {
            let next = state.seq.0 + 1;
            let path = Self::log_path(next);
            let bytes = match self.store.get(&path).await {
                Ok(get) => get.bytes().await?,
                Err(object_store::Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let (seq, ops) = format::decode_log(path.as_ref(), &bytes)?;
            if seq.0 != next {
                return Err(CatalogError::Corrupt {
                    path: path.to_string(),
                    reason: format!("holds version {} where {next} was expected", seq.0),
                });
            }
            *state = apply(state, &ops).map_err(|e| CatalogError::Corrupt {
                path: path.to_string(),
                reason: format!("its ops do not apply: {e}"),
            })?;
        }
    }

    /// Tries to commit `ops` as version `next.seq` (already applied to give `next`).
    pub(crate) async fn commit(&self, next: &CatalogState, ops: &[CatalogOp]) -> Result<Commit> {
        let payload = PutPayload::from(Bytes::from(format::encode_log(next.seq, ops)));
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&Self::log_path(next.seq.0), payload, opts).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Ok(Commit::Lost);
            }
            Err(e) => return Err(e.into()),
        }
        if next.seq.0.is_multiple_of(CHECKPOINT_EVERY) {
            self.write_checkpoint(next).await;
        }
        Ok(Commit::Won)
    }

    /// A failed checkpoint costs only load time, so it is logged, not returned.
    async fn write_checkpoint(&self, state: &CatalogState) {
        let payload = PutPayload::from(Bytes::from(format::encode_checkpoint(state)));
        if let Err(e) = self.store.put(&Self::checkpoint_path(state.seq.0), payload).await {
            tracing::warn!(seq = state.seq.0, error = %e, "catalog checkpoint not written");
        }
    }

    async fn list_seqs(&self, prefix: &str) -> Result<Vec<u64>> {
        let metas: Vec<_> = self.store.list(Some(&Path::from(prefix))).try_collect().await?;
        Ok(metas.iter().filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok()).collect())
    }
}

impl CatalogSeq {
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}
