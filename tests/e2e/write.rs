//! The three write endpoints: status codes, bodies, gzip, precisions, partial writes.

use std::io::Write as _;

use serde_json::Value;

use crate::server::TestServer;

#[tokio::test]
async fn the_three_write_endpoints_store_points_and_answer_204() {
    let (server, _data) = TestServer::spawn().await;
    server.create_database("demo").await;
    let r = server.post("/write?db=demo&precision=s", "cpu,host=a,region=eu usage=1.5,n=3i 1704067200").await;
    assert_eq!(r.status(), 204);
    let r = server.post("/api/v2/write?bucket=demo&org=x&precision=s", "cpu,host=b usage=2.5 1704067200").await;
    assert_eq!(r.status(), 204);
    let r = server.post("/api/v3/write_lp?db=demo&precision=second", "cpu,host=c usage=3.5 1704067200").await;
    assert_eq!(r.status(), 204);
    let rows = server.sql("demo", "SELECT host, region, usage, n, time FROM cpu ORDER BY host").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["host"], "a");
    assert_eq!(rows[0]["region"], "eu");
    assert_eq!(rows[0]["usage"], 1.5);
    assert_eq!(rows[0]["n"], 3);
    assert_eq!(rows[0]["time"], "2024-01-01T00:00:00");
    assert_eq!(rows[2]["usage"], 3.5);
}

#[tokio::test]
async fn precisions_scale_timestamps() {
    let (server, _data) = TestServer::spawn().await;
    server.create_database("p").await;
    for (precision, ts) in [
        ("n", "1704067200000000000"),
        ("ns", "1704067200000000001"),
        ("u", "1704067200000002"),
        ("ms", "1704067200003"),
        ("s", "1704067204"),
        ("m", "28401125"),
        ("h", "473353"),
    ] {
        let r = server.post(&format!("/write?db=p&precision={precision}"), format!("t,p={precision} v=1 {ts}")).await;
        assert_eq!(r.status(), 204, "{precision}");
    }
    let rows = server.sql("p", "SELECT p, CAST(time AS BIGINT) AS ns FROM t ORDER BY p").await;
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r["p"].as_str().unwrap_or_default().to_owned(), r["ns"].as_i64().unwrap_or_default()))
        .collect();
    let want = [
        ("h", 473_353 * 3_600_000_000_000),
        ("m", 28_401_125 * 60_000_000_000),
        ("ms", 1_704_067_200_003_000_000),
        ("n", 1_704_067_200_000_000_000),
        ("ns", 1_704_067_200_000_000_001),
        ("s", 1_704_067_204_000_000_000),
        ("u", 1_704_067_200_000_002_000),
    ];
    assert_eq!(got, want.iter().map(|(p, t)| ((*p).to_owned(), *t)).collect::<Vec<_>>());
    let r = server.post("/write?db=p&precision=fortnight", "t v=1 1").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].as_str().unwrap_or_default().contains("precision"), "{body}");
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bad_encodings_refused() {
    let (server, _data) = TestServer::spawn().await;
    server.create_database("g").await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"cpu v=1 1\ncpu v=2 2\n").expect("gzip");
    let body = gz.finish().expect("gzip");
    let client = reqwest::Client::new();
    let r = client
        .post(server.url("/write?db=g"))
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 204);
    assert_eq!(server.count("g", "cpu").await, 2);
    let r = client
        .post(server.url("/write?db=g"))
        .header("Content-Encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let r = client
        .post(server.url("/write?db=g"))
        .header("Content-Encoding", "br")
        .body("cpu v=1")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 415);
}

#[tokio::test]
async fn partial_writes_keep_valid_lines_and_name_every_rejected_one() {
    let (server, _data) = TestServer::spawn().await;
    server.create_database("pw").await;
    let body = "cpu,host=a usage=1.5 1\ncpu,host=b usage=\"high\" 2\nthis is not lp\ncpu,host=c usage=3 3";
    let r = server.post("/write?db=pw&precision=s", body).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("X-Influxdb-Error").is_some());
    let v1: Value = r.json().await.expect("json");
    let message = v1["error"].as_str().expect("error message");
    assert!(message.starts_with("partial write:"), "{message}");
    // 1.x's body is `{"error"}` alone; its message names each rejected line.
    assert_eq!(v1.as_object().map(|o| o.len()), Some(1), "{v1}");
    assert!(message.contains("line 2:") && message.contains("line 3:") && message.contains("dropped=2"), "{message}");
    assert!(message.contains("float"), "{message}");
    assert_eq!(server.count("pw", "cpu").await, 2, "lines 1 and 4 are stored");

    let r = server.post("/write?db=pw", "garbage\nmore garbage").await;
    assert_eq!(r.status(), 400);
    let v1: Value = r.json().await.expect("json");
    assert!(v1["error"].as_str().unwrap_or_default().starts_with("unable to parse"), "{v1}");

    let r = server.post("/api/v2/write?bucket=pw", "cpu usage=\"x\" 5\ncpu usage=5 6").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers().get("X-Platform-Error-Code").and_then(|v| v.to_str().ok()), Some("invalid"));
    let v2: Value = r.json().await.expect("json");
    assert_eq!(v2["code"], "invalid");
    assert_eq!(v2["data"][0]["line_number"], 1);

    let r = server.post("/api/v3/write_lp?db=pw", "cpu usage=7 7\ncpu usage=true 8").await;
    assert_eq!(r.status(), 400);
    let v3: Value = r.json().await.expect("json");
    assert_eq!(v3["error"], "partial write of line protocol occurred");
    assert_eq!(v3["data"][0]["line_number"], 2);
    assert_eq!(server.count("pw", "cpu").await, 4);

    let r = server.post("/api/v3/write_lp?db=pw&accept_partial=false", "cpu usage=9 9\ncpu usage=true 10").await;
    assert_eq!(r.status(), 400);
    assert_eq!(server.count("pw", "cpu").await, 4, "nothing stored when partial writes are refused");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_missing_db_400() {
    let (server, _data) = TestServer::spawn_args(&["--max-request-size", "1KiB"]).await;
    server.create_database("big").await;
    let big = "cpu v=1 1\n".repeat(200);
    let r = server.post("/write?db=big", big.clone()).await;
    assert_eq!(r.status(), 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(big.as_bytes()).expect("gzip");
    let r = reqwest::Client::new()
        .post(server.url("/write?db=big"))
        .header("Content-Encoding", "gzip")
        .body(gz.finish().expect("gzip"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 413, "the limit holds after decompression too");
    let r = server.post("/write", "cpu v=1 1").await;
    assert_eq!(r.status(), 400);
    let r = server.post("/write?db=big", vec![0xff, 0xfe]).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn create_database_over_query_ping_and_health_answer_like_influxdb() {
    let (server, _data) = TestServer::spawn().await;
    let r = reqwest::Client::new()
        .post(server.url("/query"))
        .form(&[("q", "CREATE DATABASE telegraf")])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"results": [{"statement_id": 0}]}));
    let rows = server.sql("telegraf", "SELECT database_name FROM system.databases").await;
    assert!(rows.iter().any(|r| r["database_name"] == "telegraf"));
    let r = reqwest::get(server.url("/ping")).await.expect("ping");
    assert_eq!(r.status(), 204);
    assert!(r.headers().contains_key("X-Influxdb-Version"));
    assert_eq!(reqwest::get(server.url("/health")).await.expect("health").status(), 200);
}

#[tokio::test]
async fn a_full_buffer_answers_503_with_retry_after_until_persistence_catches_up() {
    let (server, _data) = TestServer::spawn_args(&[
        "--max-buffer-size",
        "1KiB",
        "--persist-threshold",
        "1GiB",
        "--persist-interval",
        "1h",
    ])
    .await;
    server.create_database("bp").await;
    let body: String = (0..100).map(|i| format!("cpu,host=h{i} usage={i} {i}\n")).collect();
    assert_eq!(server.post("/write?db=bp", body.clone()).await.status(), 204);
    let r = server.post("/write?db=bp", body.clone()).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // The refusal also asked for a persist; once it is done writes are accepted again.
    let mut wait = crate::server::deadline("the buffer to drain", 30);
    while server.post("/write?db=bp", body.clone()).await.status() != 204 {
        wait();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(server.count("bp", "cpu").await, 100, "the same 100 points, deduplicated");
}
