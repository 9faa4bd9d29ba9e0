//! SQL over HTTP: every output format, errors, and the safety of untrusted SQL.

use serde_json::Value;

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1.5,n=3i,ok=true,msg=\"hi\" 1704067200\n\
                    cpu,host=b,region=us usage=2.5,n=4i,ok=false,msg=\"yo\" 1704067260";

#[tokio::test]
async fn query_sql_answers_in_every_format() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("q", DATA).await;
    let q = "SELECT host, usage FROM cpu ORDER BY host";

    let csv = server.sql_response("q", "SELECT count(*) FROM cpu", "csv").await.text().await.expect("csv");
    assert_eq!(csv, "count(*)\n2\n");

    let r = server.sql_response("q", q, "json").await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let json: Value = r.json().await.expect("json");
    assert_eq!(json, serde_json::json!([{"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.5}]));

    let jsonl = server.sql_response("q", q, "jsonl").await.text().await.expect("jsonl");
    assert_eq!(jsonl, "{\"host\":\"a\",\"usage\":1.5}\n{\"host\":\"b\",\"usage\":2.5}\n");

    let pretty = server.sql_response("q", q, "pretty").await.text().await.expect("pretty");
    assert!(pretty.contains("| host | usage |") && pretty.contains("| b    | 2.5   |"), "{pretty}");

    let bytes = server.sql_response("q", q, "parquet").await.bytes().await.expect("parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("valid parquet")
        .build()
        .expect("reader");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 2);

    let empty: Value =
        server.sql_response("q", "SELECT host FROM cpu WHERE host = 'zzz'", "json").await.json().await.expect("json");
    assert_eq!(empty, serde_json::json!([]));

    let r = reqwest::Client::new()
        .post(server.url("/api/v3/query_sql"))
        .json(&serde_json::json!({"db": "q", "q": "SELECT max(n) AS m FROM cpu", "format": "json"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.json::<Value>().await.expect("json"), serde_json::json!([{"m": 4}]));
}

#[tokio::test]
async fn query_errors_say_what_is_wrong_with_the_right_status() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("e", DATA).await;
    let cases = [
        ("nope", "SELECT 1", 404, "does not exist"),
        ("e", "SELECT * FROM nosuch", 400, "nosuch"),
        ("e", "SELECT usgae FROM cpu", 400, "usgae"),
        ("e", "SELEC 1", 400, "syntax"),
        ("e", "COPY (SELECT 1) TO '/tmp/sediment-pwned.csv'", 403, "not allowed"),
        ("e", "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", 403, "not allowed"),
        ("e", "DROP TABLE cpu", 403, "not allowed"),
    ];
    for (db, q, status, needle) in cases {
        let r = server.sql_response(db, q, "json").await;
        assert_eq!(r.status().as_u16(), status, "{q}");
        let body: Value = r.json().await.expect("json error body");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{q}: {message}");
    }
    assert!(!std::path::Path::new("/tmp/sediment-pwned.csv").exists());
    let r = server.sql_response("e", "SELECT 1", "xml").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn system_tables_describe_the_catalog() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("s", DATA).await;
    let rows = server
        .sql("s", "SELECT column_name, column_type FROM system.columns WHERE table_name = 'cpu' ORDER BY column_name")
        .await;
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (r["column_name"].as_str().unwrap_or_default().into(), r["column_type"].as_str().unwrap_or_default().into())
        })
        .collect();
    let want = [
        ("host", "tag"),
        ("msg", "string field"),
        ("n", "integer field"),
        ("ok", "boolean field"),
        ("region", "tag"),
        ("time", "time"),
        ("usage", "float field"),
    ];
    assert_eq!(got, want.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect::<Vec<_>>());
    let tables = server.sql("s", "SELECT table_name FROM system.tables").await;
    assert_eq!(tables, vec![serde_json::json!({"table_name": "cpu"})]);
}
