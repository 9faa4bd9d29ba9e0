//! InfluxQL through the 1.x `/query` endpoint.

use serde_json::{Value, json};

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1.5,n=3i 1704067200\n\
                    cpu,host=b,region=us usage=2.5,n=4i 1704067260\n\
                    mem,host=a used=10i,label=\"x\" 1704067200\n\
                    events,zone=z1 code=1i 1704067200";

async fn query(server: &TestServer, params: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().get(server.url("/query")).query(params).send().await.expect("request");
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-influxdb-version"), "1.x clients read the version header");
    (status, response.json().await.expect("JSON body"))
}

fn first_result(body: &Value) -> &Value {
    &body["results"][0]
}

#[tokio::test]
async fn meta_statements_answer_in_the_1x_shape() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("sed", DATA).await;
    server.write_ok("other", "m,t=x v=1 1\nm,t=y v=2 2").await;

    let (status, body) = query(&server, &[("q", "SHOW DATABASES")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        first_result(&body),
        &json!({"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": [["other"], ["sed"]]}]})
    );

    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW MEASUREMENTS")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["cpu"], ["events"], ["mem"]]));
    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW MEASUREMENTS WHERE host = 'a'")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["cpu"], ["mem"]]));
    let (_, body) = query(&server, &[("q", "SHOW MEASUREMENTS ON other WITH MEASUREMENT =~ /^m/")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["m"]]));

    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW TAG KEYS FROM cpu, /^e/")]).await;
    assert_eq!(
        first_result(&body)["series"],
        json!([
            {"name": "cpu", "columns": ["tagKey"], "values": [["host"], ["region"]]},
            {"name": "events", "columns": ["tagKey"], "values": [["zone"]]}
        ])
    );

    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW FIELD KEYS FROM mem")]).await;
    assert_eq!(
        first_result(&body)["series"],
        json!([{"name": "mem", "columns": ["fieldKey", "fieldType"], "values": [["label", "string"], ["used", "integer"]]}])
    );

    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW TAG VALUES WITH KEY = host")]).await;
    assert_eq!(
        first_result(&body)["series"],
        json!([
            {"name": "cpu", "columns": ["key", "value"], "values": [["host", "a"], ["host", "b"]]},
            {"name": "mem", "columns": ["key", "value"], "values": [["host", "a"]]}
        ])
    );
    let (_, body) =
        query(&server, &[("db", "sed"), ("q", "SHOW TAG VALUES FROM cpu WITH KEY =~ /o/ WHERE region = 'us'")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["host", "b"], ["region", "us"]]));

    let (_, body) = query(&server, &[("db", "sed"), ("q", "SHOW SERIES")]).await;
    assert_eq!(
        first_result(&body)["series"],
        json!([{"columns": ["key"], "values": [["cpu,host=a,region=eu"], ["cpu,host=b,region=us"], ["events,zone=z1"], ["mem,host=a"]]}])
    );

    let (_, body) = query(&server, &[("q", "SHOW RETENTION POLICIES ON sed")]).await;
    assert_eq!(
        first_result(&body)["series"][0],
        json!({"columns": ["name", "duration", "shardGroupDuration", "replicaN", "default"], "values": [["autogen", "0s", "168h0m0s", 1, true]]})
    );
}

#[tokio::test]
async fn errors_follow_1x_parse_400_and_run_time_in_the_result() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("sed", DATA).await;
    let (status, body) = query(&server, &[("db", "sed"), ("q", "SELECT * FROM")]).await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"error": "error parsing query: found EOF, expected identifier at line 1, char 15"}));

    // The second statement fails while running; the first and third still answer.
    let (status, body) =
        query(&server, &[("q", "SHOW DATABASES; SHOW MEASUREMENTS ON nosuchdb; SHOW MEASUREMENTS ON sed")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0]["series"][0]["name"], "databases");
    assert_eq!(body["results"][1], json!({"statement_id": 1, "error": "database not found: nosuchdb"}));
    assert_eq!(body["results"][2]["series"][0]["values"], json!([["cpu"], ["events"], ["mem"]]));

    let (_, body) = query(&server, &[("q", "SHOW MEASUREMENTS")]).await;
    assert_eq!(first_result(&body), &json!({"statement_id": 0, "error": "database name required"}));
}

#[tokio::test]
async fn bound_parameters_fill_conditions() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("sed", DATA).await;
    let (_, body) = query(
        &server,
        &[
            ("db", "sed"),
            ("q", "SHOW TAG VALUES FROM cpu WITH KEY = region WHERE host = $h"),
            ("params", r#"{"h":"b"}"#),
        ],
    )
    .await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["region", "us"]]));
    // Unbound, as in 1.x: the query does not parse.
    let (status, body) =
        query(&server, &[("db", "sed"), ("q", "SHOW TAG VALUES FROM cpu WITH KEY = region WHERE host = $h")]).await;
    assert_eq!((status, &body["error"]), (400, &json!("error parsing query: missing parameter: h")));
}

#[tokio::test]
async fn create_database_then_show_it() {
    let (server, _data) = TestServer::spawn().await;
    let (status, body) = query(&server, &[("q", "CREATE DATABASE \"my db\"; SHOW DATABASES")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    assert_eq!(body["results"][1]["series"][0]["values"], json!([["my db"]]));
}

#[tokio::test]
async fn retention_policies_are_kept_in_the_catalog_across_restarts() {
    let (mut server, _data) = TestServer::spawn().await;
    let statements = "CREATE DATABASE d WITH DURATION 30d NAME month; \
                      CREATE RETENTION POLICY two ON d DURATION 2d REPLICATION 1; \
                      CREATE RETENTION POLICY two ON d DURATION 2d REPLICATION 1; \
                      CREATE RETENTION POLICY two ON d DURATION 3d REPLICATION 1; \
                      ALTER RETENTION POLICY two ON d SHARD DURATION 2h DEFAULT; \
                      CREATE RETENTION POLICY gone ON d DURATION INF REPLICATION 1; \
                      DROP RETENTION POLICY gone ON d; \
                      ALTER RETENTION POLICY nope ON d DEFAULT";
    let (status, body) = query(&server, &[("q", statements)]).await;
    assert_eq!(status, 200);
    let errors: Vec<&Value> = body["results"].as_array().expect("results").iter().map(|r| &r["error"]).collect();
    assert_eq!(
        errors,
        [
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("retention policy already exists"),
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("retention policy not found: nope")
        ]
    );
    let expected = json!([["month", "720h0m0s", "24h0m0s", 1, false], ["two", "48h0m0s", "2h0m0s", 1, true]]);
    let (_, body) = query(&server, &[("q", "SHOW RETENTION POLICIES ON d")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], expected);
    server.restart().await;
    let (_, body) = query(&server, &[("q", "SHOW RETENTION POLICIES ON d")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], expected, "the policies survive a restart");
}

#[tokio::test]
async fn raw_selects_answer_series_in_time_order() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("sed", DATA).await;
    let (_, body) = query(&server, &[("db", "sed"), ("q", "SELECT usage, host FROM cpu WHERE region =~ /u/")]).await;
    assert_eq!(
        first_result(&body)["series"],
        json!([{"name": "cpu", "columns": ["time", "usage", "host"], "values": [
            ["2024-01-01T00:00:00Z", 1.5, "a"], ["2024-01-01T00:01:00Z", 2.5, "b"]
        ]}])
    );
    let (_, body) = query(
        &server,
        &[("db", "sed"), ("q", "SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1"), ("epoch", "s")],
    )
    .await;
    assert_eq!(
        first_result(&body)["series"],
        json!([
            {"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "n", "region", "usage"], "values": [[1704067200, 3, "eu", 1.5]]},
            {"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "n", "region", "usage"], "values": [[1704067260, 4, "us", 2.5]]}
        ])
    );
    let (_, body) = query(
        &server,
        &[("db", "sed"), ("q", "SELECT (usage + n) / 2 AS half FROM cpu WHERE time > '2024-01-01T00:00:30Z'")],
    )
    .await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["2024-01-01T00:01:00Z", 3.25]]));
    let (_, body) = query(&server, &[("db", "sed"), ("q", "SELECT mean(usage) FROM cpu")]).await;
    assert_eq!(first_result(&body)["series"][0]["values"], json!([["1970-01-01T00:00:00Z", 2.0]]));
}
