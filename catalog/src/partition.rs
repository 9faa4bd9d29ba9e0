//! Timestamps to partition keys, and the half-open time ranges used for pruning.

use chrono::{DateTime, NaiveDate};

pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A half-open interval `[start, end)` of nanosecond timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

impl TimeRange {
    pub const ALL: Self = Self { start: i64::MIN, end: i64::MAX };

    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end }
    }

    pub fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn intersect(&self, other: &Self) -> Self {
        Self { start: self.start.max(other.start), end: self.end.min(other.end) }
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// Whether two ranges of the same key (a partition) overlap: only then can
/// two sources hold the same point. Sorts `ranges`.
pub fn any_overlap<K: Ord>(ranges: &mut [(K, TimeRange)]) -> bool {
    ranges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.start.cmp(&b.1.start)));
    ranges.windows(2).any(|w| w[0].0 == w[1].0 && w[0].1.overlaps(&w[1].1))
}

/// The UTC day number of a timestamp (days since the epoch, floored).
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(NANOS_PER_DAY)
}

/// The partition key of a UTC day, `YYYY-MM-DD`.
pub fn day_key(day: i64) -> String {
    let secs = day.saturating_mul(86_400);
    match DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        // Outside chrono's range (beyond year 262143): still unique and sortable.
        None => format!("day{day}"),
    }
}

/// The partition key of the UTC day holding `ts`.
pub fn partition_key(ts: i64) -> String {
    day_key(day_of(ts))
}

/// The time range of a daily partition key, if it is one.
pub fn day_range(key: &str) -> Option<TimeRange> {
    let date = NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()?;
    let start = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()?;
    Some(TimeRange::new(start, start.saturating_add(NANOS_PER_DAY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_utc_days() {
        assert_eq!(partition_key(1_704_067_200_000_000_000), "2024-01-01");
        assert_eq!(partition_key(1_704_067_199_999_999_999), "2023-12-31");
        assert_eq!(partition_key(0), "1970-01-01");
        assert_eq!(partition_key(-1), "1969-12-31");
    }

    #[test]
    fn day_range_round_trips_the_key() {
        let r = day_range("2024-01-01").expect("valid key");
        assert_eq!(r.start, 1_704_067_200_000_000_000);
        assert_eq!(r.end - r.start, NANOS_PER_DAY);
        assert_eq!(partition_key(r.start), "2024-01-01");
        assert_eq!(partition_key(r.end - 1), "2024-01-01");
        assert!(day_range("not-a-day").is_none());
    }

    #[test]
    fn ranges_are_half_open() {
        let a = TimeRange::new(0, 10);
        assert!(a.overlaps(&TimeRange::new(9, 20)));
        assert!(!a.overlaps(&TimeRange::new(10, 20)));
        assert!(a.intersect(&TimeRange::new(10, 20)).is_empty());
    }
}
