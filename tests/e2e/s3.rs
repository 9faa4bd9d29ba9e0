//! The same promises against a real S3-compatible server (moto) instead of a local directory.

use crate::server::{Moto, Store, TestServer};

#[tokio::test]
async fn writes_queries_kill_9_and_persistence_work_on_s3() {
    let moto = Moto::start().await;
    moto.create_bucket("sediment").await;
    let store = Store::S3 { endpoint: moto.endpoint.clone(), bucket: "sediment".into(), prefix: "prod".into() };
    let mut server = TestServer::start(store, &["--persist-interval", "1h"]).await;
    server.write_ok("demo", "cpu,host=a,region=eu usage=1.5,n=3i 1704067200").await;
    let r = server.post("/api/v2/write?bucket=demo&precision=s", "cpu,host=b usage=2.5 1704067200").await;
    assert_eq!(r.status(), 204);
    assert!(moto.keys("sediment", "prod/wal/").await.len() >= 2, "acknowledged writes are WAL objects");

    // kill -9: the WAL objects bring every acknowledged write back.
    server.restart().await;
    assert_eq!(server.count("demo", "cpu").await, 2);
    let pg = server.pg("demo").await;
    let rows = pg.query("SELECT host FROM cpu ORDER BY host", &[]).await.expect("pg query");
    assert_eq!(rows.len(), 2);

    // A graceful stop persists to Parquet objects and deletes the WAL.
    assert!(server.terminate());
    let keys = moto.keys("sediment", "prod/").await;
    assert!(
        keys.iter().any(|k| k.starts_with("prod/data/demo/cpu/2024-01-01/") && k.ends_with(".parquet")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.starts_with("prod/catalog/log/")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("prod/wal/")), "{keys:?}");
    server.start_again().await;
    let rows = server.sql("demo", "SELECT host, usage FROM cpu ORDER BY host").await;
    assert_eq!(
        rows,
        vec![serde_json::json!({"host": "a", "usage": 1.5}), serde_json::json!({"host": "b", "usage": 2.5})]
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_bucket_sees_every_acknowledged_write() {
    let moto = Moto::start().await;
    moto.create_bucket("shared").await;
    let store = Store::S3 { endpoint: moto.endpoint.clone(), bucket: "shared".into(), prefix: String::new() };
    let mut first = TestServer::start(store.clone(), &["--persist-interval", "200ms"]).await;
    first.write_ok("db", "m v=1 1704067200\nm v=2 1704067201").await;
    first.wait_for_files("db", "m", 1).await;
    first.write_ok("db", "m v=3 1704067202").await;
    first.kill9();
    // A new node with no local state recovers from the bucket alone.
    let second = TestServer::start(store, &[]).await;
    assert_eq!(second.count("db", "m").await, 3);
}
