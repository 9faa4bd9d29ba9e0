//! The InfluxQL HTTP surface beyond plain JSON: chunked responses, CSV,
//! `pretty`, `rp=`, `/api/v3/query_influxql`, SHOW USERS and the
//! CARDINALITY statements.

use serde_json::{Value, json};

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1 1704067200\ncpu,host=a,region=eu usage=2 1704067210\n\
                    cpu,host=a,region=eu usage=3 1704067220\ncpu,host=b,region=us usage=4 1704067200\n\
                    mem,host=a used=5i 1704067200";

async fn get(server: &TestServer, path: &str, params: &[(&str, &str)], accept: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.url(path)).query(params);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn chunked_responses_stream_one_object_per_line_and_cut_long_series() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let q = "SELECT usage FROM cpu WHERE host = 'a'; SELECT nope(usage) FROM cpu; SHOW MEASUREMENTS";
    let params = [("db", "h"), ("q", q), ("epoch", "s"), ("chunked", "true"), ("chunk_size", "2")];
    let response = get(&server, "/query", &params, None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let chunks: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is a JSON object")).collect();
    assert_eq!(
        chunks,
        vec![
            json!({"results": [{"statement_id": 0, "partial": true, "series": [
                {"name": "cpu", "columns": ["time", "usage"], "values": [[1704067200, 1.0], [1704067210, 2.0]], "partial": true}]}]}),
            json!({"results": [{"statement_id": 0, "series": [
                {"name": "cpu", "columns": ["time", "usage"], "values": [[1704067220, 3.0]]}]}]}),
            json!({"results": [{"statement_id": 1, "error": "undefined function nope()"}]}),
            json!({"results": [{"statement_id": 2, "series": [
                {"name": "measurements", "columns": ["name"], "values": [["cpu"], ["mem"]]}]}]}),
        ]
    );
}

#[tokio::test]
async fn csv_and_pretty_bodies() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let q = "SELECT usage FROM cpu GROUP BY host; SELECT used FROM mem";
    let response = get(&server, "/query", &[("db", "h"), ("q", q)], Some("application/csv")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/csv");
    assert_eq!(
        response.text().await.expect("body"),
        "name,tags,time,usage\n\
         cpu,host=a,1704067200000000000,1\n\
         cpu,host=a,1704067210000000000,2\n\
         cpu,host=a,1704067220000000000,3\n\
         cpu,host=b,1704067200000000000,4\n\
         \n\
         name,tags,time,used\n\
         mem,,1704067200000000000,5\n"
    );

    let response = get(&server, "/query", &[("db", "h"), ("q", "SHOW MEASUREMENTS"), ("pretty", "true")], None).await;
    let text = response.text().await.expect("body");
    assert!(text.contains("\n    \"results\": ["), "indented by four spaces: {text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["results"][0]["series"][0]["values"], json!([["cpu"], ["mem"]]));
}

#[tokio::test]
async fn retention_policy_parameter_picks_the_policys_series() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let create =
        get(&server, "/query", &[("q", "CREATE RETENTION POLICY short ON h DURATION 1d REPLICATION 1")], None).await;
    assert_eq!(create.status(), 200);
    let write = reqwest::Client::new()
        .post(server.url("/write?db=h&rp=short&precision=s"))
        .body("cpu,host=z usage=42 1704067200")
        .send()
        .await
        .expect("write");
    assert_eq!(write.status(), 204);
    let values = |body: Value| body["results"][0]["series"][0]["values"].clone();
    let q = [("db", "h"), ("q", "SELECT usage FROM cpu WHERE host = 'z'"), ("epoch", "s"), ("rp", "short")];
    let body: Value = get(&server, "/query", &q, None).await.json().await.expect("JSON");
    assert_eq!(values(body), json!([[1704067200, 42.0]]));
    let body: Value = get(&server, "/query", &q[..3], None).await.json().await.expect("JSON");
    assert_eq!(body["results"][0], json!({"statement_id": 0}), "the default policy has no host z");
    let q = [("db", "h"), ("q", "SELECT usage FROM cpu"), ("rp", "nope")];
    let body: Value = get(&server, "/query", &q, None).await.json().await.expect("JSON");
    assert_eq!(body["results"][0]["error"], "retention policy not found: nope");
}

#[tokio::test]
async fn v3_query_influxql_answers_a_table_in_the_sql_formats() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let q = "SELECT mean(usage) FROM cpu GROUP BY host";
    let response = get(&server, "/api/v3/query_influxql", &[("db", "h"), ("q", q)], None).await;
    assert_eq!(response.status(), 200);
    let rows: Value = response.json().await.expect("JSON");
    assert_eq!(
        rows,
        json!([
            {"iox::measurement": "cpu", "time": "1970-01-01T00:00:00", "host": "a", "mean": 2.0},
            {"iox::measurement": "cpu", "time": "1970-01-01T00:00:00", "host": "b", "mean": 4.0}
        ])
    );
    let response = get(&server, "/api/v3/query_influxql", &[("db", "h"), ("q", q), ("format", "csv")], None).await;
    assert_eq!(
        response.text().await.expect("body"),
        "iox::measurement,time,host,mean\ncpu,1970-01-01T00:00:00,a,2.0\ncpu,1970-01-01T00:00:00,b,4.0\n"
    );
    let response = get(&server, "/api/v3/query_influxql", &[("db", "h"), ("q", "SELECT nope(x) FROM cpu")], None).await;
    assert_eq!(response.status(), 400);
    let response = get(&server, "/api/v3/query_influxql", &[("q", q)], None).await;
    assert_eq!(response.status(), 400, "db is required");
}

#[tokio::test]
async fn show_users_and_cardinality() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let q = "SHOW USERS; SHOW SERIES EXACT CARDINALITY; SHOW SERIES CARDINALITY; SHOW MEASUREMENT EXACT CARDINALITY; \
             SHOW TAG VALUES CARDINALITY WITH KEY = host; SHOW FIELD KEY CARDINALITY FROM cpu";
    let body: Value = get(&server, "/query", &[("db", "h"), ("q", q)], None).await.json().await.expect("JSON");
    let results = &body["results"];
    assert_eq!(results[0]["series"], json!([{"columns": ["user", "admin"]}]), "no users yet: no values");
    assert_eq!(
        results[1]["series"],
        json!([{"name": "cpu", "columns": ["count"], "values": [[2]]}, {"name": "mem", "columns": ["count"], "values": [[1]]}])
    );
    assert_eq!(results[2]["series"], json!([{"columns": ["cardinality estimation"], "values": [[3]]}]));
    assert_eq!(results[3]["series"], json!([{"columns": ["count"], "values": [[2]]}]));
    assert_eq!(
        results[4]["series"],
        json!([{"name": "cpu", "columns": ["count"], "values": [[2]]}, {"name": "mem", "columns": ["count"], "values": [[1]]}])
    );
    assert_eq!(results[5]["series"], json!([{"name": "cpu", "columns": ["count"], "values": [[1]]}]));
}

#[tokio::test]
async fn unbound_parameters_and_bad_regexes_are_parse_errors() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("h", DATA).await;
    let q = [("db", "h"), ("q", "SELECT usage FROM cpu WHERE host = $host")];
    let response = get(&server, "/query", &q, None).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "error parsing query: missing parameter: host");
    let q = [("db", "h"), ("q", "SELECT usage FROM cpu WHERE host = $host"), ("params", r#"{"host":"b"}"#)];
    let body: Value = get(&server, "/query", &q, None).await.json().await.expect("JSON");
    assert_eq!(body["results"][0]["series"][0]["values"], json!([["2024-01-01T00:00:00Z", 4.0]]));
    let response = get(&server, "/query", &[("db", "h"), ("q", "SELECT usage FROM cpu WHERE host =~ /(/")], None).await;
    assert_eq!(response.status(), 400);
    let q = [("db", "h"), ("q", "SELECT top(usage, 2), max(usage) FROM cpu")];
    let body: Value = get(&server, "/query", &q, None).await.json().await.expect("JSON");
    assert_eq!(body["results"][0]["error"], "selector function top() cannot be combined with other functions");
}
