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
        let mut partitions: BTreeMap<&str, Vec<&ParquetFile>> = BTreeMap::new();
        for file in &meta.files {
            partitions.entry(file.partition.as_str()).or_default().push(file);
        }
        partitions.retain(|_, files| files.iter().any(|f| f.min_time <= range.1 && f.max_time >= range.0));

        let mut ops = Vec::new();
        let mut old_paths = Vec::new();
        let mut removed = 0;
        for (partition, mut files) in partitions {
            files.sort_by_key(|f| f.generation);
            let mut batches = Vec::new();
            for file in &files {
                batches.extend(self.read_file(&file.path).await?);
            }
            let table_meta = meta.clone();
            let doomed = Arc::clone(&doomed);
            let name = format!("{db}.{table}");
            let merged = tokio::task::spawn_blocking(move || keep_rows(&table_meta, &batches, doomed.as_ref()))
                .await
                .map_err(|e| PersistError::Arrow {
                    table: name.clone(),
                    source: ArrowError::ExternalError(Box::new(e)),
                })?
                .map_err(|source| PersistError::Arrow { table: name, source })?;
            let (kept, gone) = merged;
            if gone == 0 {
                continue;
            }
            removed += gone;
            ops.push(CatalogOp::RemoveFiles {
                db: db.to_owned(),
                table: table.to_owned(),
                file_ids: files.iter().map(|f| f.id.clone()).collect(),
            });
            old_paths.extend(files.iter().map(|f| f.path.clone()));
            if kept.num_rows() > 0 {
                let times = kept.column(kept.num_columns() - 1).as_primitive::<TimestampNanosecondType>();
                let (min_time, max_time) = (arrow::compute::min(times), arrow::compute::max(times));
                let snapshot = PartitionSnapshot {
                    partition: partition.to_owned(),
                    min_time: min_time.unwrap_or(range.0),
                    max_time: max_time.unwrap_or(range.1),
                    batch: kept,
                };
                let file = self.write_file(db, table, &snapshot).await?;
                ops.push(CatalogOp::AddFiles { db: db.to_owned(), table: table.to_owned(), files: vec![file] });
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

    async fn read_file(&self, path: &str) -> Result<Vec<RecordBatch>, PersistError> {
        let location = paths::recorded(path);
        let read = |source| PersistError::Read { path: path.to_owned(), source };
        let bytes = self.store.get(&location).await.map_err(read)?.bytes().await.map_err(read)?;
        let decode = |source| PersistError::Decode { path: path.to_owned(), source };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(decode)?.build().map_err(decode)?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| decode(e.into()))
    }

    /// Deletes objects no catalog version references any more; a failure only wastes space.
    async fn delete_objects(&self, paths: Vec<String>) {
        for path in paths {
            if let Err(e) = self.store.delete(&paths::recorded(&path)).await {
                tracing::warn!(path, error = %e, "could not delete an unreferenced file");
            }
        }
    }
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
fn keep_rows(table: &Table, batches: &[RecordBatch], doomed: &RowFilter) -> Result<(RecordBatch, u64), ArrowError> {
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
    let doomed = doomed(&merged)?;
    // A null (unknown) verdict keeps the row; prep_null_mask_filter needs a null buffer.
    let doomed = if doomed.null_count() > 0 { arrow::compute::prep_null_mask_filter(&doomed) } else { doomed };
    let keep = arrow::compute::not(&doomed)?;
    let kept = filter_record_batch(&merged, &keep)?;
    let removed = (merged.num_rows() - kept.num_rows()) as u64;
    Ok((kept, removed))
}
