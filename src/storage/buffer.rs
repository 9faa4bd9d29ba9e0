//! The in-memory write buffer: per table and partition, Arrow builders that
//! durable writes are appended to, and the sorted, deduplicated snapshots that
//! queries and the persister read.
//!
//! ```text
//! active generation ──freeze()──▶ frozen generations ──persisted──▶ dropped
//!   (takes writes)                 (immutable, still queried)
//! ```
//!
//! Writes are applied by the WAL's commit loop in WAL order, so a generation
//! holds exactly the writes of the WAL files up to its `wal_through`.
//! Does no I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use sediment_catalog::{ColumnKind, FieldType, TIME_COLUMN};

use crate::ingest::lp::{FieldValue, Point};
use crate::storage::dedup::sort_and_dedup;
use crate::storage::last_cache::LastCache;
use crate::storage::{arrow_type, wal::WalOp};

/// Buffered rows of one (database, table).
type TableKey = (String, String);

/// One partition's rows, sorted by (tags…, time) and deduplicated.
#[derive(Debug, Clone)]
pub struct PartitionSnapshot {
    pub partition: String,
    pub batch: RecordBatch,
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Default)]
pub struct WriteBuffer {
    state: Mutex<BufferState>,
    /// Updated with the buffer, so that it holds every point the buffer does.
    last: LastCache,
}

#[derive(Debug, Default)]
struct BufferState {
    active: Generation,
    frozen: Vec<Arc<Generation>>,
    /// The WAL file of the last write applied.
    applied_through: u64,
    next_generation: u64,
}

/// The writes of a run of WAL files.
#[derive(Debug, Default)]
pub struct Generation {
    pub id: u64,
    /// WAL files up to this one are entirely in this and older generations.
    pub wal_through: u64,
    tables: BTreeMap<TableKey, BTreeMap<String, PartitionBuffer>>,
    bytes: usize,
}

impl Generation {
    /// Every (db, table, partition) with its sorted, deduplicated rows.
    pub fn partitions(&self) -> Result<Vec<(String, String, PartitionSnapshot)>, ArrowError> {
        let mut out = Vec::new();
        for ((db, table), partitions) in &self.tables {
            for partition in partitions.values() {
                out.push((db.clone(), table.clone(), partition.snapshot()?));
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl WriteBuffer {
    /// A buffer whose newest-point cache holds at most `last_cache_bytes`.
    pub fn new(last_cache_bytes: usize) -> Self {
        Self { state: Mutex::default(), last: LastCache::new(last_cache_bytes) }
    }

    /// The newest point of every series of the tables queries asked that of.
    pub fn last_cache(&self) -> &LastCache {
        &self.last
    }

    fn lock(&self) -> MutexGuard<'_, BufferState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the writes of WAL file `wal_seq`. Called in WAL order only.
    pub fn apply(&self, wal_seq: u64, ops: &[WalOp]) {
        let mut state = self.lock();
        // The newest-point cache is updated under the buffer's lock: a DELETE
        // (which freezes the buffer, persists, then forgets the cache) must
        // never see a point in one and not yet in the other.
        for op in ops {
            self.last.apply(&op.db, &op.points);
        }
        let state = &mut *state;
        for op in ops {
            // Points of one request mostly share a table and a day: look the
            // partition up once per run of them, not once per point.
            let mut rest = op.points.as_slice();
            while let Some(first) = rest.first() {
                let day = sediment_catalog::day_of(first.time);
                let run = rest
                    .iter()
                    .position(|p| p.measurement() != first.measurement() || sediment_catalog::day_of(p.time) != day)
                    .unwrap_or(rest.len());
                let partition_key = sediment_catalog::day_key(day);
                let partition = state
                    .active
                    .tables
                    .entry((op.db.clone(), first.measurement().to_owned()))
                    .or_default()
                    .entry(partition_key.clone())
                    .or_insert_with(|| PartitionBuffer::new(partition_key));
                let mut bytes = 0;
                for point in &rest[..run] {
                    bytes += partition.append(point);
                }
                partition.bytes += bytes;
                state.active.bytes += bytes;
                rest = &rest[run..];
            }
        }
        state.applied_through = state.applied_through.max(wal_seq);
    }

    /// Approximate bytes held, over all generations.
    pub fn bytes(&self) -> usize {
        let state = self.lock();
        state.active.bytes + state.frozen.iter().map(|g| g.bytes).sum::<usize>()
    }

    /// Bytes in the active generation, which a persist would write.
    pub fn active_bytes(&self) -> usize {
        self.lock().active.bytes
    }

    /// Makes the active generation immutable, if it holds anything, and starts a new one.
    pub fn freeze(&self) {
        let mut state = self.lock();
        if state.active.is_empty() {
            return;
        }
        let id = state.next_generation;
        state.next_generation += 1;
        let mut generation = std::mem::take(&mut state.active);
        generation.id = id;
        generation.wal_through = state.applied_through;
        state.frozen.push(Arc::new(generation));
    }

    /// The oldest frozen generation, which must be persisted first.
    pub fn oldest_frozen(&self) -> Option<Arc<Generation>> {
        self.lock().frozen.first().cloned()
    }

    /// Forgets a generation whose data is now in Parquet and in the catalog.
    pub fn drop_frozen(&self, id: u64) {
        self.lock().frozen.retain(|g| g.id != id);
    }

    /// All partitions of one table, oldest generation first.
    pub fn table_snapshot(&self, db: &str, table: &str) -> Result<Vec<PartitionSnapshot>, ArrowError> {
        let state = self.lock();
        let key = (db.to_owned(), table.to_owned());
        let mut out = Vec::new();
        for generation in state.frozen.iter().map(Arc::as_ref).chain([&state.active]) {
            for partition in generation.tables.get(&key).into_iter().flat_map(BTreeMap::values) {
                out.push(partition.snapshot()?);
            }
        }
        Ok(out)
    }

    /// Forgets the rows of `db` (only of `table` when given) in the active
    /// generation, after a DROP made them unreachable. The caller persisted
    /// the frozen generations first, so only the active one can hold any.
    pub fn purge(&self, db: &str, table: Option<&str>) {
        self.last.forget(db, table);
        let mut state = self.lock();
        let doomed = |(d, t): &TableKey| d == db && table.is_none_or(|x| x == t);
        let mut freed = 0;
        state.active.tables.retain(|key, partitions| {
            if doomed(key) {
                freed += partitions.values().map(|p| p.bytes).sum::<usize>();
                false
            } else {
                true
            }
        });
        state.active.bytes -= freed.min(state.active.bytes);
    }

    /// Whether any generation holds rows of this partition (it is still being written).
    pub fn holds_partition(&self, db: &str, table: &str, partition: &str) -> bool {
        let state = self.lock();
        let key = (db.to_owned(), table.to_owned());
        state
            .frozen
            .iter()
            .map(Arc::as_ref)
            .chain([&state.active])
            .any(|g| g.tables.get(&key).is_some_and(|partitions| partitions.contains_key(partition)))
    }

    /// Tables of `db` with buffered rows.
    pub fn tables(&self, db: &str) -> Vec<String> {
        let state = self.lock();
        let mut names: Vec<String> = state
            .frozen
            .iter()
            .map(Arc::as_ref)
            .chain([&state.active])
            .flat_map(|g| g.tables.keys())
            .filter(|(d, _)| d == db)
            .map(|(_, t)| t.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Rows of one table in one partition, column by column.
#[derive(Debug)]
struct PartitionBuffer {
    partition: String,
    rows: usize,
    bytes: usize,
    min_time: i64,
    max_time: i64,
    time: TimestampNanosecondBuilder,
    columns: Vec<(String, ColumnKind, ColumnBuilder)>,
    index: HashMap<String, usize>,
    snapshot: OnceLock<RecordBatch>,
}

#[derive(Debug)]
pub(super) enum ColumnBuilder {
    Tag(StringBuilder),
    Float(Float64Builder),
    Integer(Int64Builder),
    UInteger(UInt64Builder),
    String(StringBuilder),
    Boolean(BooleanBuilder),
}

impl ColumnBuilder {
    pub(super) fn new(kind: ColumnKind, rows: usize) -> Self {
        let mut builder = match kind {
            ColumnKind::Tag | ColumnKind::Time => Self::Tag(StringBuilder::new()),
            ColumnKind::Field(FieldType::Float) => Self::Float(Float64Builder::new()),
            ColumnKind::Field(FieldType::Integer) => Self::Integer(Int64Builder::new()),
            ColumnKind::Field(FieldType::UInteger) => Self::UInteger(UInt64Builder::new()),
            ColumnKind::Field(FieldType::String) => Self::String(StringBuilder::new()),
            ColumnKind::Field(FieldType::Boolean) => Self::Boolean(BooleanBuilder::new()),
        };
        for _ in 0..rows {
            builder.append_null();
        }
        builder
    }

    fn len(&self) -> usize {
        match self {
            Self::Tag(b) | Self::String(b) => b.len(),
            Self::Float(b) => b.len(),
            Self::Integer(b) => b.len(),
            Self::UInteger(b) => b.len(),
            Self::Boolean(b) => b.len(),
        }
    }

    pub(super) fn append_null(&mut self) {
        match self {
            Self::Tag(b) | Self::String(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Integer(b) => b.append_null(),
            Self::UInteger(b) => b.append_null(),
            Self::Boolean(b) => b.append_null(),
        }
    }

    /// Appends a tag value (or a string field's); other columns take a null.
    pub(super) fn append_str(&mut self, value: &str) {
        match self {
            Self::Tag(b) | Self::String(b) => b.append_value(value),
            builder => builder.append_null(),
        }
    }

    /// Appends a field value. Validation guarantees the type matches; a mismatch is stored as null.
    pub(super) fn append_field(&mut self, value: &FieldValue) {
        match (self, value) {
            (Self::Float(b), FieldValue::Float(v)) => b.append_value(*v),
            (Self::Integer(b), FieldValue::Integer(v)) => b.append_value(*v),
            (Self::UInteger(b), FieldValue::UInteger(v)) => b.append_value(*v),
            (Self::String(b), FieldValue::String(v)) => b.append_value(v),
            (Self::Boolean(b), FieldValue::Boolean(v)) => b.append_value(*v),
            (builder, _) => builder.append_null(),
        }
    }

    pub(super) fn finish_cloned(&self) -> ArrayRef {
        match self {
            Self::Tag(b) | Self::String(b) => Arc::new(b.finish_cloned()),
            Self::Float(b) => Arc::new(b.finish_cloned()),
            Self::Integer(b) => Arc::new(b.finish_cloned()),
            Self::UInteger(b) => Arc::new(b.finish_cloned()),
            Self::Boolean(b) => Arc::new(b.finish_cloned()),
        }
    }
}

fn field_kind(value: &FieldValue) -> ColumnKind {
    ColumnKind::Field(crate::ingest::validate::field_type(value))
}

impl PartitionBuffer {
    fn new(partition: String) -> Self {
        Self {
            partition,
            rows: 0,
            bytes: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            time: TimestampNanosecondBuilder::new(),
            columns: Vec::new(),
            index: HashMap::new(),
            snapshot: OnceLock::new(),
        }
    }

    /// Appends one point and returns roughly how many bytes it costs.
    fn append(&mut self, point: &Point) -> usize {
        let mut bytes = 8;
        let values = point
            .tags()
            .map(|(k, v)| (k, ColumnKind::Tag, Some(v), None))
            .chain(point.fields().map(|(k, v)| (k, field_kind(v), None, Some(v))));
        // Points of one shape list their columns in the same order: try the
        // column after the last one before hashing the name.
        let mut hint = 0;
        for (name, kind, tag, field) in values {
            let known = match self.columns.get(hint) {
                Some((column, _, _)) if column == name => Some(hint),
                _ => self.index.get(name).copied(),
            };
            let i = match known {
                Some(i) => i,
                None => {
                    self.columns.push((name.to_owned(), kind, ColumnBuilder::new(kind, self.rows)));
                    self.index.insert(name.to_owned(), self.columns.len() - 1);
                    self.columns.len() - 1
                }
            };
            hint = i + 1;
            let builder = &mut self.columns[i].2;
            match (builder, tag, field) {
                (ColumnBuilder::Tag(b), Some(tag), _) => {
                    bytes += tag.len() + 4;
                    b.append_value(tag);
                }
                (builder, _, Some(field)) => {
                    bytes += match field {
                        FieldValue::String(s) => s.len() + 4,
                        _ => 8,
                    };
                    builder.append_field(field);
                }
                (builder, _, _) => builder.append_null(),
            }
        }
        self.time.append_value(point.time);
        self.rows += 1;
        for (_, _, builder) in &mut self.columns {
            if builder.len() < self.rows {
                builder.append_null();
            }
        }
        self.min_time = self.min_time.min(point.time);
        self.max_time = self.max_time.max(point.time);
        self.snapshot = OnceLock::new();
        bytes
    }

    /// Columns are tags, then fields, then time; sorted by (tags…, time) and deduplicated.
    fn snapshot(&self) -> Result<PartitionSnapshot, ArrowError> {
        let batch = match self.snapshot.get() {
            Some(batch) => batch.clone(),
            None => {
                let batch = self.build_sorted()?;
                let _ = self.snapshot.set(batch.clone());
                batch
            }
        };
        Ok(PartitionSnapshot {
            partition: self.partition.clone(),
            batch,
            min_time: self.min_time,
            max_time: self.max_time,
        })
    }

    fn build_sorted(&self) -> Result<RecordBatch, ArrowError> {
        let mut ordered: Vec<&(String, ColumnKind, ColumnBuilder)> = self.columns.iter().collect();
        ordered.sort_by_key(|(_, kind, _)| *kind != ColumnKind::Tag);
        let mut fields: Vec<Field> =
            ordered.iter().map(|(name, kind, _)| Field::new(name, arrow_type(*kind), true)).collect();
        let mut arrays: Vec<ArrayRef> = ordered.iter().map(|(_, _, b)| b.finish_cloned()).collect();
        fields.push(Field::new(TIME_COLUMN, arrow_type(ColumnKind::Time), false));
        arrays.push(Arc::new(self.time.finish_cloned()));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        let tags = ordered.iter().filter(|(_, kind, _)| *kind == ColumnKind::Tag).count();
        let keys: Vec<usize> = (0..tags).chain([batch.num_columns() - 1]).collect();
        sort_and_dedup(&batch, &keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::lp::{Precision, parse_body};

    fn op(body: &str) -> WalOp {
        let (points, rejected) = parse_body(body, Precision::Nanosecond, 0);
        assert!(rejected.is_empty());
        WalOp { db: "db".into(), points: points.into_iter().map(|p| p.point).collect() }
    }

    #[test]
    fn snapshots_are_sorted_deduplicated_and_fill_missing_columns_with_null() {
        let buffer = WriteBuffer::default();
        buffer.apply(1, &[op("cpu,host=b a=1 10\ncpu,host=a a=2 10\ncpu,host=a b=3i 10\ncpu c=true 5")]);
        let parts = buffer.table_snapshot("db", "cpu").expect("snapshot");
        assert_eq!(parts.len(), 1);
        let batch = &parts[0].batch;
        let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["host", "a", "b", "c", "time"]);
        assert_eq!(batch.num_rows(), 3, "host=a at 10 merged");
        let formatted =
            arrow::util::pretty::pretty_format_batches(std::slice::from_ref(batch)).expect("formats").to_string();
        assert!(formatted.contains("| a    | 2.0 | 3 |      |"), "{formatted}");
    }

    #[test]
    fn a_partition_is_held_while_any_generation_has_rows_of_it() {
        let buffer = WriteBuffer::default();
        buffer.apply(1, &[op("cpu a=1 1704067200000000000")]);
        buffer.freeze();
        assert!(buffer.holds_partition("db", "cpu", "2024-01-01"), "frozen, not yet persisted");
        assert!(!buffer.holds_partition("db", "cpu", "2024-01-02"));
        assert!(!buffer.holds_partition("db", "mem", "2024-01-01"));
        let frozen = buffer.oldest_frozen().expect("frozen");
        buffer.drop_frozen(frozen.id);
        assert!(!buffer.holds_partition("db", "cpu", "2024-01-01"));
        buffer.apply(2, &[op("cpu a=2 1704067200000000001")]);
        assert!(buffer.holds_partition("db", "cpu", "2024-01-01"), "active");
    }

    #[test]
    fn frozen_generations_stay_visible_until_dropped() {
        let buffer = WriteBuffer::default();
        buffer.apply(1, &[op("cpu a=1 1")]);
        buffer.freeze();
        buffer.apply(2, &[op("cpu a=2 2")]);
        let frozen = buffer.oldest_frozen().expect("frozen");
        assert_eq!(frozen.wal_through, 1);
        assert_eq!(buffer.table_snapshot("db", "cpu").expect("snapshot").len(), 2);
        buffer.drop_frozen(frozen.id);
        assert_eq!(buffer.table_snapshot("db", "cpu").expect("snapshot").len(), 1);
        assert!(buffer.oldest_frozen().is_none());
    }

    #[test]
    fn partitions_split_on_utc_days() {
        let buffer = WriteBuffer::default();
        buffer.apply(1, &[op("cpu a=1 1704067199000000000\ncpu a=2 1704067200000000000")]);
        let parts = buffer.table_snapshot("db", "cpu").expect("snapshot");
        let keys: Vec<_> = parts.iter().map(|p| p.partition.as_str()).collect();
        assert_eq!(keys, ["2023-12-31", "2024-01-01"]);
    }
}
