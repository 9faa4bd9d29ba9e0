//! The write-ahead log: one immutable file per group commit.
//!
//! ```text
//! writers ──append(op)──▶ queue ──commit loop──▶ encode N ops ──▶ wal/<seq>.wal (fsync / PUT)
//!                                                     │
//!                      waiters ◀── ack ◀── on_durable(seq, ops) (the buffer applies them)
//! ```
//!
//! A write is acknowledged only after its file is durable: on a local disk the
//! file is written beside its final name, fsync'd, renamed and the directory
//! fsync'd (object_store's `LocalFileSystem` never fsyncs, so it is not used
//! here); on S3 the PUT completed. A file therefore exists whole or not at all,
//! and a checksum failure on replay is real corruption, never a torn tail.
//!
//! File layout: `SDWAL002` magic, crc32 (u32 LE) and length (u64 LE) of the
//! payload, then the payload: one record per op, each the database name's
//! length (u32 LE) and bytes, then the line protocol's length (u64 LE) and
//! bytes. The line protocol is in nanoseconds, every line with its timestamp
//! (the lines as sent where that already holds, rewritten otherwise).
//! Records are not escaped or encoded: JSON (`SDWAL001`, a payload of
//! `[{"db": .., "lp": ..}]`) spent 4% of a TSBS load escaping line protocol.
//! Files of that older format are still replayed.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ingest::lp::{Point, Precision, parse_body};
use crate::storage::paths;

const MAGIC: &[u8; 8] = b"SDWAL002";
/// The JSON payload that versions before `SDWAL002` wrote; replayed, never written.
const MAGIC_JSON: &[u8; 8] = b"SDWAL001";
const HEADER_LEN: usize = 8 + 4 + 8;
/// Upper bound on one group commit, so one file never grows without limit.
const MAX_COMMIT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("WAL storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("WAL file {path} is corrupt: {reason}; start with --wal-ignore-corrupt to skip it (its writes are lost)")]
    Corrupt { path: String, reason: String },
    #[error("the WAL is shut down")]
    Closed,
}

/// The writes of one request to one database.
#[derive(Debug, Clone, PartialEq)]
pub struct WalOp {
    pub db: String,
    pub points: Vec<Point>,
}

#[derive(Deserialize)]
struct OpRecord {
    db: String,
    lp: String,
}

/// Where WAL files live.
#[derive(Debug, Clone)]
pub enum WalLocation {
    /// A local directory, written with fsync.
    Local(PathBuf),
    /// An object store (S3 or memory); a completed PUT is durable.
    Store(Arc<dyn ObjectStore>),
}

/// Called with each durable file's ops, in WAL order, before its writers are acknowledged.
pub type OnDurable = Arc<dyn Fn(u64, &[WalOp]) + Send + Sync>;

#[derive(Debug)]
struct Pending {
    op: WalOp,
    /// `op` as line protocol, written by the writer's task so that the
    /// commit loop, which every write passes through, only concatenates.
    lp: String,
    done: Option<oneshot::Sender<Result<u64, Arc<WalError>>>>,
}

impl Pending {
    fn record_len(&self) -> usize {
        4 + self.op.db.len() + 8 + self.lp.len()
    }
}

#[derive(Debug, Clone)]
pub struct Wal {
    location: WalLocation,
    queue: mpsc::Sender<Pending>,
}

impl Wal {
    /// Starts the commit loop. `first_seq` is the number the next file gets.
    pub fn start(
        location: WalLocation,
        first_seq: u64,
        flush_interval: Duration,
        on_durable: OnDurable,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(4096);
        let task = tokio::spawn(commit_loop(location.clone(), first_seq, flush_interval, rx, on_durable, shutdown));
        (Self { location, queue }, task)
    }

    /// Appends `op` and waits until it is durable (and applied). Returns its WAL file number.
    /// `lp` is `op`'s points as line protocol with nanosecond timestamps that
    /// parses back to the same points, one per line.
    ///
    /// # Errors
    /// The file could not be written; the write must not be acknowledged.
    pub async fn append(&self, op: WalOp, lp: String) -> Result<u64, Arc<WalError>> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(Pending { op, lp, done: Some(tx) }).await.map_err(|_| Arc::new(WalError::Closed))?;
        rx.await.map_err(|_| Arc::new(WalError::Closed))?
    }

    /// Queues `op` without waiting for durability (`no_sync`).
    pub async fn append_no_sync(&self, op: WalOp, lp: String) -> Result<(), WalError> {
        self.queue.send(Pending { op, lp, done: None }).await.map_err(|_| WalError::Closed)
    }

    /// Deletes every WAL file numbered `through` or lower.
    pub async fn delete_through(&self, through: u64) -> Result<(), WalError> {
        for seq in list_seqs(&self.location).await? {
            if seq <= through {
                delete(&self.location, seq).await?;
            }
        }
        Ok(())
    }
}

/// Every WAL file number present, ascending. Leftover temporary files of a crash are removed.
pub async fn list_seqs(location: &WalLocation) -> Result<Vec<u64>, WalError> {
    let mut seqs = match location {
        WalLocation::Local(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || list_local(&dir))
                .await
                .map_err(|e| WalError::Io { path: String::new(), source: std::io::Error::other(e) })??
        }
        WalLocation::Store(store) => {
            let metas: Vec<_> = store.list(Some(&paths::WAL_DIR.into())).try_collect().await?;
            metas.iter().filter_map(|m| paths::wal_seq(m.location.filename()?)).collect()
        }
    };
    seqs.sort_unstable();
    Ok(seqs)
}

fn list_local(dir: &std::path::Path) -> Result<Vec<u64>, WalError> {
    let io = |source| WalError::Io { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = paths::wal_seq(&name) {
            seqs.push(seq);
        } else if name.ends_with(".tmp") {
            // A commit that crashed before its rename was never acknowledged.
            let _ = std::fs::remove_file(dir.join(name.as_ref()));
        }
    }
    Ok(seqs)
}

/// Reads one WAL file and checks it.
pub async fn read(location: &WalLocation, seq: u64) -> Result<Vec<WalOp>, WalError> {
    let (path, bytes) = match location {
        WalLocation::Local(dir) => {
            let path = dir.join(paths::wal_file_name(seq));
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|source| WalError::Io { path: path.display().to_string(), source })?;
            (path.display().to_string(), Bytes::from(bytes))
        }
        WalLocation::Store(store) => {
            let path = paths::wal_file(seq);
            (path.to_string(), store.get(&path).await?.bytes().await?)
        }
    };
    decode(&bytes).map_err(|reason| WalError::Corrupt { path, reason })
}

async fn delete(location: &WalLocation, seq: u64) -> Result<(), WalError> {
    match location {
        WalLocation::Local(dir) => {
            let path = dir.join(paths::wal_file_name(seq));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(WalError::Io { path: path.display().to_string(), source }),
            }
        }
        WalLocation::Store(store) => match store.delete(&paths::wal_file(seq)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        },
    }
}

/// The points of `op` as canonical line protocol (nanosecond timestamps), one per line.
#[cfg(test)]
fn canonical_lp(op: &WalOp) -> String {
    use crate::ingest::lp::write_line;
    let mut lp = String::with_capacity(op.points.len() * 256);
    for point in &op.points {
        write_line(&mut lp, point);
        lp.push('\n');
    }
    lp
}

#[cfg(test)]
pub(crate) fn encode(ops: &[WalOp]) -> Vec<u8> {
    let lps: Vec<String> = ops.iter().map(canonical_lp).collect();
    frame(ops.iter().zip(&lps).map(|(op, lp)| (op.db.as_str(), lp.as_str())))
}

/// A WAL file holding one record per (database, line protocol).
fn frame<'a>(records: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Vec<u8> {
    let payload_len: usize = records.clone().map(|(db, lp)| 4 + db.len() + 8 + lp.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    for (db, lp) in records {
        out.extend_from_slice(&(db.len() as u32).to_le_bytes());
        out.extend_from_slice(db.as_bytes());
        out.extend_from_slice(&(lp.len() as u64).to_le_bytes());
        out.extend_from_slice(lp.as_bytes());
    }
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The (database, line protocol) records of an `SDWAL002` payload.
fn binary_records(mut payload: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn take<'a>(payload: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
        if payload.len() < n {
            return Err(format!("record cut short in its {what}"));
        }
        let (head, rest) = payload.split_at(n);
        *payload = rest;
        Ok(head)
    }
    fn text(bytes: &[u8], what: &str) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("{what} is not UTF-8: {e}"))
    }
    let mut records = Vec::new();
    while !payload.is_empty() {
        let db_len = u32::from_le_bytes(take(&mut payload, 4, "database length")?.try_into().unwrap_or_default());
        let db = text(take(&mut payload, db_len as usize, "database name")?, "database name")?;
        let lp_len = u64::from_le_bytes(take(&mut payload, 8, "line protocol length")?.try_into().unwrap_or_default());
        let lp_len = usize::try_from(lp_len).map_err(|_| "line protocol length overflows".to_owned())?;
        let lp = text(take(&mut payload, lp_len, "line protocol")?, "line protocol")?;
        records.push((db, lp));
    }
    Ok(records)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<WalOp>, String> {
    if bytes.len() < HEADER_LEN || (&bytes[..8] != MAGIC && &bytes[..8] != MAGIC_JSON) {
        return Err("missing WAL header".into());
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| "short header")?);
    let len = u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| "short header")?) as usize;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != len {
        return Err(format!("payload is {} bytes, header says {len}", payload.len()));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let records = if &bytes[..8] == MAGIC_JSON {
        let records: Vec<OpRecord> = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        records.into_iter().map(|r| (r.db, r.lp)).collect()
    } else {
        binary_records(payload)?
    };
    records
        .into_iter()
        .map(|(db, lp)| {
            let (points, rejected) = parse_body(&lp, Precision::Nanosecond, 0);
            match rejected.first() {
                Some(bad) => Err(format!("line {} does not parse: {}", bad.line_number, bad.reason)),
                None => Ok(WalOp { db, points: points.into_iter().map(|p| p.point).collect() }),
            }
        })
        .collect()
}

async fn write_file(location: &WalLocation, seq: u64, bytes: Vec<u8>) -> Result<(), WalError> {
    match location {
        WalLocation::Local(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || write_local(&dir, seq, &bytes))
                .await
                .map_err(|e| WalError::Io { path: String::new(), source: std::io::Error::other(e) })?
        }
        WalLocation::Store(store) => {
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            store.put_opts(&paths::wal_file(seq), PutPayload::from(bytes), opts).await?;
            Ok(())
        }
    }
}

fn write_local(dir: &std::path::Path, seq: u64, bytes: &[u8]) -> Result<(), WalError> {
    let final_path = dir.join(paths::wal_file_name(seq));
    let tmp_path = dir.join(format!("{seq:020}.tmp"));
    let io = |source| WalError::Io { path: final_path.display().to_string(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp_path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp_path, &final_path).map_err(io)?;
    // The rename is durable only once the directory entry is.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

async fn commit_loop(
    location: WalLocation,
    mut seq: u64,
    flush_interval: Duration,
    mut rx: mpsc::Receiver<Pending>,
    on_durable: OnDurable,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            p = rx.recv() => match p { Some(p) => p, None => return },
            () = shutdown.cancelled() => {
                rx.close();
                match rx.recv().await { Some(p) => p, None => return }
            }
        };
        if !flush_interval.is_zero() {
            tokio::time::sleep(flush_interval).await;
        }
        // Everything queued while the previous file was being synced joins this one.
        let mut bytes = first.record_len();
        let mut batch = vec![first];
        while bytes < MAX_COMMIT_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += p.record_len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let file = frame(batch.iter().map(|p| (p.op.db.as_str(), p.lp.as_str())));
        let mut ops = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        for p in batch {
            ops.push(p.op);
            waiters.push(p.done);
        }
        let span = tracing::debug_span!("wal_commit", seq, ops = ops.len());
        let result = write_file(&location, seq, file).instrument(span).await;
        // A failed commit still uses up its number: an S3 PUT that reported an
        // error may have landed, and create-only writes would refuse the number forever.
        let this_seq = seq;
        seq += 1;
        match result {
            Ok(()) => {
                on_durable(this_seq, &ops);
                for done in waiters.into_iter().flatten() {
                    let _ = done.send(Ok(this_seq));
                }
            }
            Err(e) => {
                tracing::warn!(seq = this_seq, error = %e, "WAL commit failed; its writes are refused");
                let e = Arc::new(e);
                for done in waiters.into_iter().flatten() {
                    let _ = done.send(Err(Arc::clone(&e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(body: &str) -> WalOp {
        let (points, _) = parse_body(body, Precision::Nanosecond, 0);
        WalOp { db: "db".into(), points: points.into_iter().map(|p| p.point).collect() }
    }

    #[test]
    fn files_round_trip_and_corruption_is_detected() {
        let ops = vec![op("cpu,host=a usage=0.1,s=\"x y\" 5\nmem v=2i 6"), op("disk b=true 7")];
        let bytes = encode(&ops);
        assert_eq!(decode(&bytes).expect("decodes"), ops);
        let mut bad = bytes.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0x20;
        assert!(decode(&bad).expect_err("corrupt").contains("checksum"));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn json_files_of_earlier_versions_still_replay() {
        let payload =
            br#"[{"db":"db","lp":"cpu,host=a usage=0.1,s=\"x y\" 5\nmem v=2i 6"},{"db":"db","lp":"disk b=true 7"}]"#;
        let mut bytes = MAGIC_JSON.to_vec();
        bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        let ops = vec![op("cpu,host=a usage=0.1,s=\"x y\" 5\nmem v=2i 6"), op("disk b=true 7")];
        assert_eq!(decode(&bytes).expect("decodes"), ops);
    }

    #[test]
    fn a_record_longer_than_its_file_is_corrupt_not_a_panic() {
        let mut bytes = encode(&[op("cpu v=1 1")]);
        // Claim a longer line protocol than the file holds, with a valid checksum.
        let lp_len_at = HEADER_LEN + 4 + 2;
        bytes[lp_len_at..lp_len_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[8..12].copy_from_slice(&crc.to_le_bytes());
        assert!(decode(&bytes).expect_err("corrupt").contains("cut short"));
    }

    #[tokio::test]
    async fn concurrent_appends_are_group_committed_in_order_to_a_local_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = WalLocation::Local(dir.path().to_path_buf());
        let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&applied);
        let on_durable: OnDurable = Arc::new(move |seq, ops: &[WalOp]| {
            sink.lock().expect("lock").push((seq, ops.len()));
        });
        let (wal, _task) = Wal::start(location.clone(), 1, Duration::ZERO, on_durable, CancellationToken::new());
        let mut handles = Vec::new();
        for i in 0..20 {
            let wal = wal.clone();
            handles.push(tokio::spawn(async move {
                let op = op(&format!("cpu v={i} {i}"));
                let lp = canonical_lp(&op);
                wal.append(op, lp).await
            }));
        }
        for h in handles {
            h.await.expect("joins").expect("durable");
        }
        let seqs = list_seqs(&location).await.expect("lists");
        let applied = applied.lock().expect("lock").clone();
        assert_eq!(applied.iter().map(|(_, n)| n).sum::<usize>(), 20);
        assert_eq!(seqs, applied.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        let total: usize = {
            let mut n = 0;
            for seq in &seqs {
                n += read(&location, *seq).await.expect("reads").iter().map(|o| o.points.len()).sum::<usize>();
            }
            n
        };
        assert_eq!(total, 20);
        wal.delete_through(seqs[seqs.len() - 1]).await.expect("deletes");
        assert!(list_seqs(&location).await.expect("lists").is_empty());
    }
}
