//! DROP and DELETE, durable once they return and never leaving a removed
//! point visible. Both first persist the whole buffer (under the persister's
//! lock), so no WAL replay can bring removed rows back and the buffer holds
//! only writes that came after the statement.
//!
//! - DROP DATABASE / DROP MEASUREMENT: one catalog version forgets the
//!   table(s) with their files; the buffer forgets their rows; the Parquet
//!   objects are deleted last (a crash leaves them unreferenced, never read).
//! - DELETE: each time partition with a file in the range is rewritten as one
//!   file: its files merged in generation order and deduplicated (so the
//!   later write still wins), the doomed rows filtered out. One catalog
//!   version swaps the old files for the new ones.
//! - Compaction: a partition whose files overlap in time (late writes, or a
//!   point written again after its day was persisted) is rewritten the same
//!   way with nothing removed, so its queries stop paying for deduplication.
//!   It runs after persistence, under the same lock, once the buffer holds
//!   no more rows of the partition. The old objects are deleted only after
//!   [`COMPACTED_GRACE`], since queries that planned against the previous
//!   catalog version may still be reading them; a start sweeps away what a
//!   restart left behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::storage::paths;
use arrow::array::{Array, AsArray, RecordBatch, new_null_array};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef, TimestampNanosecondType};
use arrow::error::ArrowError;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sediment_catalog::{CatalogOp, ColumnKind, ParquetFile, Table};

use super::{PersistError, Persister, RowFilter};
use crate::storage::arrow_type;
use crate::storage::buffer::PartitionSnapshot;
use crate::storage::dedup::sort_and_dedup;
use sediment_catalog::any_overlap;

impl Persister {
    /// DROP DATABASE (`table` is `None`) or DROP MEASUREMENT. Dropping what
    /// does not exist is no error, as in 1.x.
    ///
    /// # Errors
    /// Persisting the buffer or committing the catalog failed; nothing is dropped then.
    pub async fn drop_data(&self, db: &str, table: Option<&str>) -> Result<(), PersistError> {
        let _running = self.running.lock().await;
        self.persist_frozen().await?;
        let snapshot = self.catalog.snapshot();
        let Some(database) = snapshot.database(db) else { return Ok(()) };
        let paths: Vec<String> = database
            .tables
            .values()
            .filter(|t| table.is_none_or(|name| name == t.name))
            .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
            .collect();
        let op = match table {
            Some(table) => CatalogOp::DropTable { db: db.to_owned(), table: table.to_owned() },
            None => CatalogOp::DropDatabase { name: db.to_owned() },
        };
        self.buffer.last_cache().forget(db, table);
        self.catalog.apply(vec![op]).await?;
        self.buffer.purge(db, table);
        self.delete_objects(paths).await;
        Ok(())
    }

    /// DELETE: removes the rows of `table` in the inclusive time `range` that
    /// `doomed` selects, and answers how many rows went.
    ///
    /// # Errors
    /// Reading, encoding or uploading files, or the catalog commit, failed;
    /// nothing is deleted then.
    pub async fn delete_rows(
        &self,
        db: &str,
        table: &str,
        range: (i64, i64),
        doomed: Arc<RowFilter>,
    ) -> Result<u64, PersistError> {
        let _running = self.running.lock().await;
        self.persist_frozen().await?;
        let snapshot = self.catalog.snapshot();
        let Some(meta) = snapshot.table(db, table) else { return Ok(0) };
        let mut partitions = partitions(meta);
        partitions.retain(|_, files| files.iter().any(|f| f.min_time <= range.1 && f.max_time >= range.0));

        let mut ops = Vec::new();
        let mut old_paths = Vec::new();
        let mut removed = 0;
        for (partition, files) in partitions {
            let gone = self.rewrite_partition(db, meta, partition, &files, Some(Arc::clone(&doomed)), &mut ops).await?;
            if gone > 0 {
                removed += gone;
                old_paths.extend(files.iter().map(|f| f.path.clone()));
            }
        }
        if ops.is_empty() {
            return Ok(0);
        }
        // Forgotten on both sides of the commit: no query reads a deleted row
        // from the cache meanwhile, and a warming scan that read the old files
        // is refused (its epoch is gone).
        self.buffer.last_cache().forget(db, Some(table));
        self.catalog.apply(ops).await?;
        self.buffer.last_cache().forget(db, Some(table));
        self.delete_objects(old_paths).await;
        tracing::info!(db, table, rows = removed, "deleted");
        Ok(removed)
    }

    /// Rewrites every partition whose files overlap in time as one file, and
    /// answers how many partitions were rewritten. Left alone: partitions the
    /// buffer still holds rows of (with live ingest each persist would
    /// otherwise rewrite the whole current day again; they are merged once
    /// writes move on), and partitions of more than [`COMPACT_MAX_ROWS`] rows,
    /// which are merged in memory. Queries deduplicate both correctly.
    /// A partition that fails is logged and skipped; the others go on.
    pub async fn compact(&self) -> usize {
        let _running = self.running.lock().await;
        let snapshot = self.catalog.snapshot();
        let mut compacted = 0;
        for (db, database) in &snapshot.databases {
            for meta in database.tables.values() {
                for (partition, files) in partitions(meta) {
                    let rows: u64 = files.iter().map(|f| f.rows).sum();
                    if !overlapping(&files)
                        || rows > COMPACT_MAX_ROWS
                        || self.buffer.holds_partition(db, &meta.name, partition)
                    {
                        continue;
                    }
                    match self.compact_partition(db, meta, partition, &files).await {
                        Ok(()) => compacted += 1,
                        Err(e) => {
                            tracing::warn!(db, table = meta.name, partition, error = %e, "compaction failed; the files stay as they are")
                        }
                    }
                }
            }
        }
        compacted
    }

    async fn compact_partition(
        &self,
        db: &str,
        table: &Table,
        partition: &str,
        files: &[&ParquetFile],
    ) -> Result<(), PersistError> {
        let mut ops = Vec::new();
        self.rewrite_partition(db, table, partition, files, None, &mut ops).await?;
        self.catalog.apply(ops).await?;
        tracing::info!(db, table = table.name, partition, files = files.len(), "compacted overlapping files");
        let old_paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            tokio::time::sleep(COMPACTED_GRACE).await;
            delete_objects(store.as_ref(), old_paths).await;
        });
        Ok(())
    }

    /// Deletes Parquet objects that no catalog version references and that are
    /// older than [`COMPACTED_GRACE`]: compacted files whose delayed deletion a
    /// restart cut short, and uploads whose catalog commit never happened.
    /// Younger ones may belong to a commit in flight.
    ///
    /// # Errors
    /// Listing the store failed; deletions that fail are only logged.
    pub async fn sweep_unreferenced(&self) -> Result<usize, PersistError> {
        use futures::TryStreamExt;
        let _running = self.running.lock().await;
        let snapshot = self.catalog.snapshot();
        let live: std::collections::HashSet<object_store::path::Path> = snapshot
            .databases
            .values()
            .flat_map(|d| d.tables.values())
            .flat_map(|t| t.files.iter().map(|f| paths::recorded(&f.path)))
            .collect();
        let prefix = object_store::path::Path::from(paths::DATA_DIR);
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| PersistError::Read { path: prefix.to_string(), source })?;
        let cutoff = chrono::Utc::now() - COMPACTED_GRACE;
        let doomed: Vec<String> = objects
            .into_iter()
            .filter(|o| !live.contains(&o.location) && o.last_modified < cutoff)
            .map(|o| o.location.to_string())
            .collect();
        let count = doomed.len();
        if count > 0 {
            tracing::info!(objects = count, "deleting Parquet objects no catalog version references");
            delete_objects(self.store.as_ref(), doomed).await;
        }
        Ok(count)
    }

    /// Merges `files` (one partition of `table`) into one file without the
    /// rows `doomed` selects, pushing the catalog change onto `ops`, and
    /// answers how many rows went. A DELETE that removes nothing changes nothing.
    async fn rewrite_partition(
        &self,
        db: &str,
        table: &Table,
        partition: &str,
        files: &[&ParquetFile],
        doomed: Option<Arc<RowFilter>>,
        ops: &mut Vec<CatalogOp>,
    ) -> Result<u64, PersistError> {
        let mut files = files.to_vec();
        files.sort_by_key(|f| f.generation);
        let mut batches = Vec::new();
        for file in &files {
            batches.extend(self.read_file(&file.path).await?);
        }
        let table_meta = table.clone();
        let name = format!("{db}.{}", table.name);
        let compacting = doomed.is_none();
        let (kept, gone) = tokio::task::spawn_blocking(move || keep_rows(&table_meta, &batches, doomed.as_deref()))
            .await
            .map_err(|e| PersistError::Arrow { table: name.clone(), source: ArrowError::ExternalError(Box::new(e)) })?
            .map_err(|source| PersistError::Arrow { table: name, source })?;
        if gone == 0 && !compacting {
            return Ok(0);
        }
        ops.push(CatalogOp::RemoveFiles {
            db: db.to_owned(),
            table: table.name.clone(),
            file_ids: files.iter().map(|f| f.id.clone()).collect(),
        });
        if kept.num_rows() > 0 {
            let times = kept.column(kept.num_columns() - 1).as_primitive::<TimestampNanosecondType>();
            // `time` is never null, so these are the kept rows' bounds.
            let min_time =
                arrow::compute::min(times).unwrap_or_else(|| files.iter().map(|f| f.min_time).min().unwrap_or(0));
            let max_time =
                arrow::compute::max(times).unwrap_or_else(|| files.iter().map(|f| f.max_time).max().unwrap_or(0));
            let snapshot = PartitionSnapshot { partition: partition.to_owned(), min_time, max_time, batch: kept };
            let file = self.write_file(db, &table.name, &snapshot).await?;
            ops.push(CatalogOp::AddFiles { db: db.to_owned(), table: table.name.clone(), files: vec![file] });
        }
        Ok(gone)
    }

    async fn read_file(&self, path: &str) -> Result<Vec<RecordBatch>, PersistError> {
        let location = paths::recorded(path);
        let read = |source| PersistError::Read { path: path.to_owned(), source };
        let bytes = self.store.get(&location).await.map_err(read)?.bytes().await.map_err(read)?;
        let decode = |source| PersistError::Decode { path: path.to_owned(), source };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(decode)?.build().map_err(decode)?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| decode(e.into()))
    }

    async fn delete_objects(&self, paths: Vec<String>) {
        delete_objects(self.store.as_ref(), paths).await;
    }
}

/// Rows above which a partition is not compacted: it is merged in memory.
const COMPACT_MAX_ROWS: u64 = 4 * 1024 * 1024;
/// How long compacted-away objects stay readable for queries planned before the swap.
const COMPACTED_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// Deletes objects no catalog version references any more; a failure only wastes space.
async fn delete_objects(store: &dyn object_store::ObjectStore, paths: Vec<String>) {
    for path in paths {
        if let Err(e) = store.delete(&paths::recorded(&path)).await {
            tracing::warn!(path, error = %e, "could not delete an unreferenced file");
        }
    }
}

/// A table's files by time partition.
fn partitions(table: &Table) -> BTreeMap<&str, Vec<&ParquetFile>> {
    let mut partitions: BTreeMap<&str, Vec<&ParquetFile>> = BTreeMap::new();
    for file in &table.files {
        partitions.entry(file.partition.as_str()).or_default().push(file);
    }
    partitions
}

/// Whether two of one partition's files can hold the same point.
fn overlapping(files: &[&ParquetFile]) -> bool {
    any_overlap(&mut files.iter().map(|f| ((), f.time_range())).collect::<Vec<_>>())
}

/// The column order of a rewritten file: tags, then fields (catalog order), then time.
pub fn rewrite_schema(table: &Table) -> SchemaRef {
    let rank = |kind: &ColumnKind| match kind {
        ColumnKind::Tag => 0,
        ColumnKind::Field(_) => 1,
        ColumnKind::Time => 2,
    };
    let mut columns: Vec<_> = table.columns.iter().collect();
    columns.sort_by_key(|c| rank(&c.kind));
    Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(&c.name, arrow_type(c.kind), c.kind != ColumnKind::Time)).collect::<Vec<_>>(),
    ))
}

/// One partition's files (oldest first) as one sorted, deduplicated batch
/// without the doomed rows, and how many rows were removed.
fn keep_rows(
    table: &Table,
    batches: &[RecordBatch],
    doomed: Option<&RowFilter>,
) -> Result<(RecordBatch, u64), ArrowError> {
    let schema = rewrite_schema(table);
    let tags = table.columns.iter().filter(|c| c.kind == ColumnKind::Tag).count();
    let mut aligned = Vec::with_capacity(batches.len());
    for batch in batches {
        let arrays = schema
            .fields()
            .iter()
            .map(|f| match batch.column_by_name(f.name()) {
                Some(a) => cast(a, f.data_type()),
                None => Ok(new_null_array(f.data_type(), batch.num_rows())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        aligned.push(RecordBatch::try_new(Arc::clone(&schema), arrays)?);
    }
    let all = concat_batches(&schema, &aligned)?;
    let keys: Vec<usize> = (0..tags).chain([schema.fields().len() - 1]).collect();
    let merged = sort_and_dedup(&all, &keys)?;
    let Some(doomed) = doomed else { return Ok((merged, 0)) };
    let doomed = doomed(&merged)?;
    // A null (unknown) verdict keeps the row; prep_null_mask_filter needs a null buffer.
    let doomed = if doomed.null_count() > 0 { arrow::compute::prep_null_mask_filter(&doomed) } else { doomed };
    let keep = arrow::compute::not(&doomed)?;
    let kept = filter_record_batch(&merged, &keep)?;
    let removed = (merged.num_rows() - kept.num_rows()) as u64;
    Ok((kept, removed))
}
