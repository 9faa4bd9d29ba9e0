//! Acknowledged means durable: kill -9, restart, persistence to Parquet,
//! graceful shutdown, and deduplication across the buffer and files.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::server::{Moto, Store, TestServer, parquet_files, wal_files};

/// Writes single points with increasing values from `writers` tasks until told to stop;
/// returns every value whose write was acknowledged.
async fn write_until_stopped(
    http: String,
    db: &str,
    writers: usize,
    start: u64,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> BTreeSet<u64> {
    let mut tasks = Vec::new();
    for w in 0..writers as u64 {
        let (http, db, stop, acks) = (http.clone(), db.to_owned(), Arc::clone(&stop), Arc::clone(&acks));
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acked = Vec::new();
            let mut i = start + w;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("seq,writer=w{w} v={i}i {i}");
                match client.post(format!("{http}/write?db={db}")).body(body).send().await {
                    Ok(r) if r.status() == 204 => {
                        acked.push(i);
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
                i += writers as u64;
            }
            acked
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        all.extend(t.await.expect("writer task"));
    }
    all
}

async fn stored_values(server: &TestServer, db: &str) -> BTreeSet<u64> {
    server.sql(db, "SELECT v FROM seq").await.iter().map(|r| r["v"].as_u64().expect("v")).collect()
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9_at_several_points() {
    let data = tempfile::tempdir().expect("tempdir");
    kill_9_rounds(Store::Dir(data.path().to_path_buf())).await;
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9_on_s3() {
    let moto = Moto::start().await;
    moto.create_bucket("kill").await;
    kill_9_rounds(Store::S3 { endpoint: moto.endpoint.clone(), bucket: "kill".into(), prefix: "p".into() }).await;
}

async fn kill_9_rounds(store: Store) {
    // A short persist interval makes kills land during persistence too.
    let mut server = TestServer::start(store, &["--persist-interval", "150ms"]).await;
    server.create_database("k").await;
    let mut acked = BTreeSet::new();
    for round in 0..4u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_until_stopped(
            server.http.clone(),
            "k",
            4,
            round * 1_000_000,
            Arc::clone(&stop),
            Arc::clone(&acks),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(150 + 100 * round)).await;
        // On a loaded machine the first writes can take longer than the delay.
        let mut wait = crate::server::deadline("acknowledged writes", 60);
        while acks.load(Ordering::Relaxed) < 20 {
            wait();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let this_round = writer.await.expect("writers");
        assert!(!this_round.is_empty(), "round {round} acknowledged nothing");
        acked.extend(this_round);
        server.start_again().await;
        let stored = stored_values(&server, "k").await;
        let missing: Vec<_> = acked.difference(&stored).take(10).collect();
        assert!(missing.is_empty(), "round {round}: acknowledged but lost: {missing:?}");
    }
}

#[tokio::test]
async fn persisted_data_is_read_back_from_parquet_and_readable_by_another_reader() {
    let (mut server, data) = TestServer::spawn_args(&["--persist-interval", "100ms"]).await;
    server
        .write_ok("p", "cpu,host=a usage=1 1704067200\ncpu,host=b usage=2 1704067200\ncpu,host=a usage=3 1704153600")
        .await;
    // Two UTC days make two files.
    server.wait_for_files("p", "cpu", 2).await;
    let mut wait = crate::server::deadline("WAL truncation", 30);
    while !wal_files(data.path()).is_empty() {
        wait();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let files = parquet_files(&data.path().join("data/p/cpu"));
    assert_eq!(files.len(), 2, "{files:?}");
    let mut rows = 0;
    for file in &files {
        assert!(
            file.parent().and_then(|p| p.file_name()).is_some_and(|d| d == "2024-01-01" || d == "2024-01-02"),
            "{file:?}"
        );
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(file).expect("open"),
        )
        .expect("another Parquet reader opens it");
        let meta = std::sync::Arc::clone(reader.metadata());
        assert!(meta.row_group(0).column(0).statistics().is_some(), "row-group statistics");
        rows += reader.build().expect("reader").map(|b| b.expect("batch").num_rows()).sum::<usize>();
    }
    assert_eq!(rows, 3);
    // With the WAL gone, a restart can only answer from Parquet.
    server.restart().await;
    let got = server.sql("p", "SELECT host, usage FROM cpu ORDER BY time, host").await;
    assert_eq!(
        got,
        vec![
            serde_json::json!({"host": "a", "usage": 1.0}),
            serde_json::json!({"host": "b", "usage": 2.0}),
            serde_json::json!({"host": "a", "usage": 3.0}),
        ]
    );
}

#[tokio::test]
async fn a_graceful_shutdown_persists_everything_and_leaves_no_wal() {
    let (mut server, data) = TestServer::spawn().await;
    server.write_ok("g", "mem,host=a used=10i 1704067200\nmem,host=a used=11i 1704067210").await;
    assert!(!wal_files(data.path()).is_empty(), "acknowledged writes are in the WAL");
    assert!(server.terminate(), "clean exit on SIGTERM");
    assert!(wal_files(data.path()).is_empty(), "nothing left to replay: {:?}", wal_files(data.path()));
    assert_eq!(parquet_files(data.path()).len(), 1);
    server.start_again().await;
    assert_eq!(server.count("g", "mem").await, 2);
}

#[tokio::test]
async fn the_later_write_wins_field_by_field_across_buffer_and_files() {
    let data = tempfile::tempdir().expect("tempdir");
    later_write_wins(Store::Dir(data.path().to_path_buf())).await;
}

#[tokio::test]
async fn the_later_write_wins_field_by_field_on_s3() {
    let moto = Moto::start().await;
    moto.create_bucket("dedup").await;
    later_write_wins(Store::S3 { endpoint: moto.endpoint.clone(), bucket: "dedup".into(), prefix: String::new() })
        .await;
}

async fn later_write_wins(store: Store) {
    // Persisted only by clean stops, which never compact: the copies stay in
    // separate, overlapping files for the last check.
    let mut server = TestServer::start(store, &["--persist-interval", "1h"]).await;
    server.write_ok("d", "cpu,host=a a=1,b=2 1704067200\ncpu,host=b a=7 1704067200").await;
    server.restart_clean().await;
    server.wait_for_files("d", "cpu", 1).await;
    // Same series and time, now in the buffer: `a` changes, `b` keeps its value.
    server.write_ok("d", "cpu,host=a a=5 1704067200").await;
    let check = |rows: Vec<serde_json::Value>| {
        assert_eq!(
            rows,
            vec![serde_json::json!({"host": "a", "a": 5.0, "b": 2.0}), serde_json::json!({"host": "b", "a": 7.0}),]
        );
    };
    let q = "SELECT host, a, b FROM cpu ORDER BY host";
    check(server.sql("d", q).await);
    assert_eq!(server.count("d", "cpu").await, 2);
    // Then both copies in files.
    server.restart_clean().await;
    server.wait_for_files("d", "cpu", 2).await;
    check(server.sql("d", q).await);
    server.restart().await;
    check(server.sql("d", q).await);
    // And duplicates inside one request.
    server.write_ok("d", "cpu,host=c a=1 1704067300\ncpu,host=c b=4 1704067300\ncpu,host=c a=9 1704067300").await;
    let rows = server.sql("d", "SELECT a, b FROM cpu WHERE host = 'c'").await;
    assert_eq!(rows, vec![serde_json::json!({"a": 9.0, "b": 4.0})]);
}

#[tokio::test]
async fn a_corrupt_wal_file_stops_the_start_unless_explicitly_skipped() {
    let (mut server, data) = TestServer::spawn().await;
    server.write_ok("c", "cpu v=1 1").await;
    server.kill9();
    let wal = wal_files(data.path());
    assert_eq!(wal.len(), 1);
    let mut bytes = std::fs::read(&wal[0]).expect("read wal");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&wal[0], bytes).expect("corrupt wal");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sediment"))
        .args(["serve", "--http-bind", "127.0.0.1:0", "--pg-bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("runs");
    assert!(!status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    let name = wal[0].file_name().and_then(|n| n.to_str()).expect("name");
    assert!(stderr.contains(name) && stderr.contains("corrupt"), "{stderr}");
    let mut skipping =
        TestServer::start(crate::server::Store::Dir(data.path().to_path_buf()), &["--wal-ignore-corrupt"]).await;
    let rows = skipping.sql("c", "SELECT count(*) AS n FROM cpu").await;
    assert_eq!(rows[0]["n"], 0);
    skipping.kill9();
}

#[tokio::test]
async fn late_writes_into_a_persisted_day_are_compacted_into_one_file() {
    let (mut server, data) = TestServer::spawn_args(&["--persist-interval", "100ms"]).await;
    server.write_ok("c", "cpu,host=a usage=1,idle=5 1704067200\ncpu,host=a usage=2,idle=6 1704067260").await;
    server.wait_for_files("c", "cpu", 1).await;
    // Both lines land inside the persisted file's time range: one rewrites a
    // point (one field only), one is new.
    server.write_ok("c", "cpu,host=a usage=10 1704067200\ncpu,host=b usage=3 1704067230").await;
    let files = "SELECT count(*) AS n, sum(row_count) AS rows FROM system.parquet_files WHERE table_name = 'cpu'";
    let mut wait = crate::server::deadline("the overlapping files merged into one", 60);
    loop {
        let got = server.sql("c", files).await;
        if got[0]["n"] == 1 && got[0]["rows"] == 3 && wal_files(data.path()).is_empty() {
            break;
        }
        wait();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let expected = vec![
        serde_json::json!({"host": "a", "usage": 10.0, "idle": 5.0}),
        serde_json::json!({"host": "b", "usage": 3.0}),
        serde_json::json!({"host": "a", "usage": 2.0, "idle": 6.0}),
    ];
    let query = "SELECT host, usage, idle FROM cpu ORDER BY time";
    assert_eq!(server.sql("c", query).await, expected);
    // One file per day: nothing can overlap, so no deduplication is planned.
    let plan = server.sql("c", &format!("EXPLAIN {query}")).await;
    assert!(!format!("{plan:?}").contains("last_value"), "{plan:?}");
    server.restart().await;
    assert_eq!(server.sql("c", query).await, expected);
}

#[tokio::test]
async fn a_start_deletes_old_parquet_objects_that_no_catalog_version_references() {
    let (mut server, data) = TestServer::spawn().await;
    server.write_ok("o", "cpu,host=a usage=1 1704067200").await;
    assert!(server.terminate(), "clean stop");
    let day = data.path().join("data/o/cpu/2024-01-01");
    let live = parquet_files(&day);
    assert_eq!(live.len(), 1, "{live:?}");
    // Left behind by a compaction cut short, or an upload whose commit never happened.
    let stale = day.join("stale.parquet");
    let recent = day.join("recent.parquet");
    for path in [&stale, &recent] {
        std::fs::write(path, b"not referenced").expect("write");
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&stale).expect("open").set_modified(hour_ago).expect("mtime");
    server.start_again().await;
    let mut wait = crate::server::deadline("the stale object deleted", 30);
    while stale.exists() {
        wait();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A young one may belong to a commit in flight.
    assert!(recent.exists());
    assert!(live[0].exists());
    assert_eq!(server.count("o", "cpu").await, 1);
}
