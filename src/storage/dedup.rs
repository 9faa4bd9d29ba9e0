//! Sorting by (tags…, time) and merging points that share a series and a time.
//!
//! Within a group of rows with the same key, later rows are later writes: the
//! merged point takes, for each field, the last non-null value (fields a later
//! write left out keep their earlier values).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take, take_record_batch};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};

/// Sorts `batch` by `key_columns` (tags then time, by index), stably, and merges duplicate keys.
pub(crate) fn sort_and_dedup(batch: &RecordBatch, key_columns: &[usize]) -> Result<RecordBatch, ArrowError> {
    if batch.num_rows() <= 1 {
        return Ok(batch.clone());
    }
    let order = UInt64Array::from_iter_values(0..batch.num_rows() as u64);
    let mut sort_columns: Vec<SortColumn> = key_columns
        .iter()
        .map(|&i| SortColumn { values: Arc::clone(batch.column(i)), options: Some(SortOptions::new(false, true)) })
        .collect();
    // Arrival order breaks ties, so the last row of a group is the last write.
    sort_columns.push(SortColumn { values: Arc::new(order), options: None });
    let indices = lexsort_to_indices(&sort_columns, None)?;
    let sorted = take_record_batch(batch, &indices)?;
    merge_sorted_duplicates(&sorted, key_columns)
}

/// Merges runs of equal keys in an already sorted batch.
pub(crate) fn merge_sorted_duplicates(sorted: &RecordBatch, key_columns: &[usize]) -> Result<RecordBatch, ArrowError> {
    let keys: Vec<ArrayRef> = key_columns.iter().map(|&i| Arc::clone(sorted.column(i))).collect();
    let converter = RowConverter::new(keys.iter().map(|a| SortField::new(a.data_type().clone())).collect())?;
    let rows = converter.convert_columns(&keys)?;
    // Start row of each group.
    let mut starts: Vec<usize> = Vec::with_capacity(sorted.num_rows());
    for i in 0..rows.num_rows() {
        if i == 0 || rows.row(i) != rows.row(i - 1) {
            starts.push(i);
        }
    }
    if starts.len() == sorted.num_rows() {
        return Ok(sorted.clone());
    }
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([sorted.num_rows()]).collect();
    let columns = sorted
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let pick: UInt32Array = if key_columns.contains(&i) {
                starts.iter().map(|&s| s as u32).collect()
            } else {
                starts
                    .iter()
                    .zip(&ends)
                    .map(|(&s, &e)| (s..e).rev().find(|&r| column.is_valid(r)).unwrap_or(e - 1) as u32)
                    .collect()
            };
            take(column.as_ref(), &pick, None)
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(sorted.schema(), columns)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    fn batch(hosts: &[Option<&str>], times: &[i64], a: &[Option<f64>], b: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, true),
            Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(hosts.to_vec())),
                Arc::new(TimestampNanosecondArray::from(times.to_vec())),
                Arc::new(Float64Array::from(a.to_vec())),
                Arc::new(Int64Array::from(b.to_vec())),
            ],
        )
        .expect("valid batch")
    }

    #[test]
    fn later_writes_win_field_by_field() {
        let input = batch(
            &[Some("x"), Some("x"), None, Some("x"), None],
            &[2, 1, 1, 2, 1],
            &[Some(1.0), Some(5.0), Some(7.0), None, Some(8.0)],
            &[Some(10), None, None, Some(20), None],
        );
        let out = sort_and_dedup(&input, &[0, 1]).expect("dedups");
        assert_eq!(out.num_rows(), 3);
        let expected = batch(
            &[None, Some("x"), Some("x")],
            &[1, 1, 2],
            &[Some(8.0), Some(5.0), Some(1.0)],
            &[None, None, Some(20)],
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn batches_without_duplicates_are_only_sorted() {
        let input = batch(&[Some("b"), Some("a")], &[1, 1], &[Some(1.0), Some(2.0)], &[None, None]);
        let out = sort_and_dedup(&input, &[0, 1]).expect("sorts");
        assert_eq!(out, batch(&[Some("a"), Some("b")], &[1, 1], &[Some(2.0), Some(1.0)], &[None, None]));
    }
}
