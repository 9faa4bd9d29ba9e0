//! Sorting by (tags…, time) and merging points that share a series and a time.
//!
//! Within a group of rows with the same key, later rows are later writes: the
//! merged point takes, for each field, the last non-null value (fields a later
//! write left out keep their earlier values).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{take, take_record_batch};
use arrow::datatypes::TimestampNanosecondType;
use arrow::error::ArrowError;
use arrow::row::{Row, RowConverter, SortField};

/// Sorts `batch` by `key_columns` (tags then time, by index), stably, and merges duplicate keys.
///
/// Rows are ordered by their series' rank and their time, both integers:
/// comparing ten tag strings column by column for every pair a sort compares
/// was a fifth of the server's CPU while TSBS loaded (persisting sorts every
/// buffered row). Each distinct series is ranked once instead, in the order
/// Arrow's row format gives its tags (ascending, nulls first, as before).
pub(crate) fn sort_and_dedup(batch: &RecordBatch, key_columns: &[usize]) -> Result<RecordBatch, ArrowError> {
    if batch.num_rows() <= 1 {
        return Ok(batch.clone());
    }
    let Some((&time_index, tags)) = key_columns.split_last() else {
        return Ok(batch.clone());
    };
    let Some(times) = batch.column(time_index).as_primitive_opt::<TimestampNanosecondType>() else {
        return Err(ArrowError::InvalidArgumentError("the last sort key must be a nanosecond time".into()));
    };
    if times.null_count() > 0 {
        return Err(ArrowError::InvalidArgumentError("time must not be null".into()));
    }
    let series = series_ranks(batch, tags)?;
    let times = times.values();
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    // Stable: arrival order breaks ties, so the last row of a group is the last write.
    order.sort_by_key(|&i| (series[i as usize], times[i as usize]));
    let indices = UInt32Array::from(order);
    let sorted = take_record_batch(batch, &indices)?;
    let starts: Vec<usize> = (0..indices.len())
        .filter(|&i| {
            let (a, b) = (indices.value(i) as usize, i.checked_sub(1).map(|p| indices.value(p) as usize));
            b.is_none_or(|b| series[a] != series[b] || times[a] != times[b])
        })
        .collect();
    merge_groups(&sorted, key_columns, &starts)
}

/// Each row's series rank: equal tags, equal rank; ranks ascend with the tags.
fn series_ranks(batch: &RecordBatch, tags: &[usize]) -> Result<Vec<u32>, ArrowError> {
    if tags.is_empty() {
        return Ok(vec![0; batch.num_rows()]);
    }
    let columns: Vec<ArrayRef> = tags.iter().map(|&i| Arc::clone(batch.column(i))).collect();
    let converter = RowConverter::new(columns.iter().map(|a| SortField::new(a.data_type().clone())).collect())?;
    let rows = converter.convert_columns(&columns)?;
    let mut ids: HashMap<Row<'_>, u32> = HashMap::new();
    let mut distinct: Vec<Row<'_>> = Vec::new();
    let first_seen: Vec<u32> = rows
        .iter()
        .map(|row| {
            *ids.entry(row).or_insert_with(|| {
                distinct.push(row);
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    let mut by_tags: Vec<u32> = (0..distinct.len() as u32).collect();
    by_tags.sort_unstable_by(|&a, &b| distinct[a as usize].cmp(&distinct[b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for (r, &id) in by_tags.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    Ok(first_seen.into_iter().map(|id| rank[id as usize]).collect())
}

/// Merges each group of rows (`starts`: the first row of each) into one:
/// its keys, and per field the last non-null value.
fn merge_groups(sorted: &RecordBatch, key_columns: &[usize], starts: &[usize]) -> Result<RecordBatch, ArrowError> {
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

    /// The definition: a stable lexicographic sort of the key columns, then
    /// groups of equal keys merged.
    fn reference(batch: &RecordBatch, key_columns: &[usize]) -> RecordBatch {
        use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};
        let arrival = arrow::array::UInt64Array::from_iter_values(0..batch.num_rows() as u64);
        let mut sort: Vec<SortColumn> = key_columns
            .iter()
            .map(|&i| SortColumn { values: Arc::clone(batch.column(i)), options: Some(SortOptions::new(false, true)) })
            .collect();
        sort.push(SortColumn { values: Arc::new(arrival), options: None });
        let sorted = take_record_batch(batch, &lexsort_to_indices(&sort, None).expect("sorts")).expect("takes");
        let keys: Vec<ArrayRef> = key_columns.iter().map(|&i| Arc::clone(sorted.column(i))).collect();
        let converter =
            RowConverter::new(keys.iter().map(|a| SortField::new(a.data_type().clone())).collect()).expect("converter");
        let rows = converter.convert_columns(&keys).expect("rows");
        let starts: Vec<usize> = (0..rows.num_rows()).filter(|&i| i == 0 || rows.row(i) != rows.row(i - 1)).collect();
        merge_groups(&sorted, key_columns, &starts).expect("merges")
    }

    proptest::proptest! {
        #[test]
        fn ranked_sort_matches_the_lexicographic_definition(
            rows in proptest::collection::vec(
                (proptest::option::of(0u8..3), proptest::option::of(0u8..3), 0i64..4,
                 proptest::option::of(0i64..100)),
                0..40,
            )
        ) {
            let names = ["a", "b", "ab"];
            let tag = |v: &Option<u8>| v.map(|i| names[i as usize]);
            let schema = Arc::new(Schema::new(vec![
                Field::new("host", DataType::Utf8, true),
                Field::new("dc", DataType::Utf8, true),
                Field::new("b", DataType::Int64, true),
                Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            ]));
            let input = RecordBatch::try_new(schema, vec![
                Arc::new(StringArray::from(rows.iter().map(|r| tag(&r.0)).collect::<Vec<_>>())),
                Arc::new(StringArray::from(rows.iter().map(|r| tag(&r.1)).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
                Arc::new(TimestampNanosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ]).expect("batch");
            let got = sort_and_dedup(&input, &[0, 1, 3]).expect("dedups");
            proptest::prop_assert_eq!(got, reference(&input, &[0, 1, 3]));
        }
    }

    #[test]
    fn batches_without_duplicates_are_only_sorted() {
        let input = batch(&[Some("b"), Some("a")], &[1, 1], &[Some(1.0), Some(2.0)], &[None, None]);
        let out = sort_and_dedup(&input, &[0, 1]).expect("sorts");
        assert_eq!(out, batch(&[Some("a"), Some("b")], &[1, 1], &[Some(2.0), Some(1.0)], &[None, None]));
    }
}
