//! Cursors (`DECLARE c CURSOR FOR ...`, `FETCH n FROM c`, `CLOSE c`), as
//! psycopg2's named cursors and other batch readers use them: forward only,
//! each FETCH pulling just enough batches from the running plan.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::sync::Mutex;

/// The open cursors of one connection.
#[derive(Default)]
pub(crate) struct Cursors {
    open: Mutex<HashMap<String, Cursor>>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursors").finish_non_exhaustive()
    }
}

struct Cursor {
    batches: SendableRecordBatchStream,
    /// Rows of a batch that an earlier FETCH did not take.
    pending: Option<RecordBatch>,
}

/// Why a cursor operation failed.
#[derive(Debug)]
pub(crate) enum CursorError {
    Exists(String),
    Missing(String),
    Execution(datafusion::error::DataFusionError),
}

impl Cursors {
    pub(crate) async fn declare(&self, name: String, batches: SendableRecordBatchStream) -> Result<(), CursorError> {
        let mut open = self.open.lock().await;
        if open.contains_key(&name) {
            return Err(CursorError::Exists(name));
        }
        open.insert(name, Cursor { batches, pending: None });
        Ok(())
    }

    /// Up to `count` rows (all that remain when `None`) and the cursor's schema.
    pub(crate) async fn fetch(
        &self,
        name: &str,
        count: Option<u64>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), CursorError> {
        let mut open = self.open.lock().await;
        let cursor = open.get_mut(name).ok_or_else(|| CursorError::Missing(name.to_owned()))?;
        let schema = cursor.batches.schema();
        let mut wanted = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
        let mut out = Vec::new();
        while wanted > 0 {
            let batch = match cursor.pending.take() {
                Some(batch) => batch,
                None => match cursor.batches.next().await {
                    Some(batch) => batch.map_err(CursorError::Execution)?,
                    None => break,
                },
            };
            if batch.num_rows() > wanted {
                cursor.pending = Some(batch.slice(wanted, batch.num_rows() - wanted));
                out.push(batch.slice(0, wanted));
                wanted = 0;
            } else {
                wanted -= batch.num_rows();
                out.push(batch);
            }
        }
        Ok((schema, out))
    }

    /// Closes one cursor, or all of them when `name` is `None`.
    pub(crate) async fn close(&self, name: Option<&str>) -> Result<(), CursorError> {
        let mut open = self.open.lock().await;
        match name {
            None => open.clear(),
            Some(name) => {
                open.remove(name).ok_or_else(|| CursorError::Missing(name.to_owned()))?;
            }
        }
        Ok(())
    }
}
