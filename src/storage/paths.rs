//! The only place where object-store keys are spelled out.
//!
//! ```text
//! data/<db>/<table>/<YYYY-MM-DD>/<file-id>.parquet
//! wal/<seq, 20 digits>.wal
//! catalog/...            (owned by the catalog crate)
//! ```

use object_store::path::Path;

pub(crate) const WAL_DIR: &str = "wal";
pub(crate) const DATA_DIR: &str = "data";

pub(crate) fn parquet_file(db: &str, table: &str, partition: &str, file_id: &str) -> Path {
    Path::from_iter([DATA_DIR, db, table, partition, &format!("{file_id}.parquet")])
}

/// The object-store key of a path as the catalog records it (already
/// encoded: `Path::from` would encode a `%` in it a second time).
pub(crate) fn recorded(path: &str) -> Path {
    Path::parse(path).unwrap_or_else(|_| Path::from(path))
}

pub(crate) fn wal_file_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

pub(crate) fn wal_file(seq: u64) -> Path {
    Path::from_iter([WAL_DIR, &wal_file_name(seq)])
}

/// The sequence number of a WAL file name, if it is one.
pub(crate) fn wal_seq(file_name: &str) -> Option<u64> {
    file_name.strip_suffix(".wal")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_as_documented_and_escape_odd_names() {
        assert_eq!(parquet_file("db", "cpu", "2024-01-01", "f").as_ref(), "data/db/cpu/2024-01-01/f.parquet");
        // A '/' in a name must not create another directory level.
        let odd = parquet_file("d/b", "c", "p", "f");
        assert_eq!(odd.parts().count(), 5);
        assert_eq!(recorded(odd.as_ref()), odd, "a recorded key reads back as itself");
        assert_eq!(wal_file(7).as_ref(), "wal/00000000000000000007.wal");
        assert_eq!(wal_seq(&wal_file_name(42)), Some(42));
        assert_eq!(wal_seq("x.tmp"), None);
    }
}
