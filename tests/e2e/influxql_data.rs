//! InfluxQL statements that change data: DROP DATABASE/MEASUREMENT/SERIES,
//! DELETE, SELECT ... INTO, and writes into retention policies. Removals must
//! hold whether the points were in the buffer or in Parquet, and across restarts.

use serde_json::{Value, json};

use crate::server::TestServer;

async fn q(server: &TestServer, db: &str, text: &str) -> Value {
    server.influxql(db, text).await
}

/// The values of the first series of the first result (empty when there is none).
async fn values(server: &TestServer, db: &str, text: &str) -> Value {
    let body = q(server, db, text).await;
    assert!(body["results"][0].get("error").is_none(), "{text}: {body}");
    body["results"][0]["series"][0]["values"].clone()
}

const DATA: &str = "a,t=x v=1 1527811200\na,t=y v=2 1527811200\na,t=x v=3 1527814800\na,t=y v=4 1527814800\n\
                    b,t=x w=10 1527811200\nb,t=y w=20 1527897600";

#[tokio::test]
async fn drops_and_deletes_stay_gone_from_buffer_and_parquet_across_restarts() {
    let (mut server, _data) = TestServer::spawn_args(&["--persist-interval", "1h"]).await;
    server.write_ok("d", DATA).await;
    // A clean shutdown persists: half the data is in Parquet, half still in the buffer (and the WAL).
    server.restart_clean().await;
    assert!(server.count("d", "a").await == 4 && server.count("d", "b").await == 2);
    server.write_ok("d", "a,t=z v=5 1527818400\nc,t=x u=1 1527811200").await;

    let body = q(&server, "d", "DELETE FROM a WHERE time < '2018-06-01T00:30:00Z'").await;
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    let body = q(&server, "d", "DROP SERIES FROM a WHERE t = 'z'").await;
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    let body = q(&server, "d", "DROP MEASUREMENT c").await;
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    let expected_a = json!([[1527814800, "x", 3.0], [1527814800, "y", 4.0]]);
    assert_eq!(values(&server, "d", "SELECT * FROM a").await, expected_a);
    assert_eq!(values(&server, "d", "SHOW MEASUREMENTS").await, json!([["a"], ["b"]]));

    // Points written after a DELETE are not affected by it.
    server.write_ok("d", "a,t=x v=9 1527811200").await;
    server.restart().await;
    let expected_a = json!([[1527811200, "x", 9.0], [1527814800, "x", 3.0], [1527814800, "y", 4.0]]);
    assert_eq!(values(&server, "d", "SELECT * FROM a").await, expected_a, "after a restart");
    assert_eq!(values(&server, "d", "SHOW MEASUREMENTS").await, json!([["a"], ["b"]]));
    assert_eq!(values(&server, "d", "SELECT count(w) FROM b").await, json!([[0, 2]]));

    let body = q(&server, "d", "DROP SERIES FROM a WHERE time > 0").await;
    assert!(body["results"][0]["error"].as_str().unwrap_or_default().contains("time"), "{body}");

    let body = q(&server, "", "DROP DATABASE d; SHOW DATABASES").await;
    assert_eq!(body["results"][0], json!({"statement_id": 0}));
    assert_eq!(body["results"][1].get("series"), None, "{body}");
    server.restart().await;
    let body = q(&server, "", "SHOW DATABASES").await;
    assert_eq!(body["results"][0].get("series"), None, "{body}");
    let r = server.post("/write?db=d", "a v=1 1").await;
    assert_eq!(r.status(), 404, "a dropped database takes no 1.x writes");
}

#[tokio::test]
async fn retention_policies_keep_their_own_series() {
    let (server, _data) = TestServer::spawn().await;
    server.create_database("r").await;
    q(&server, "", "CREATE RETENTION POLICY two ON r DURATION 30d REPLICATION 1").await;
    assert_eq!(server.post("/write?db=r&precision=s", "m,t=x v=1 100").await.status(), 204);
    assert_eq!(server.post("/write?db=r&rp=two&precision=s", "m,t=x v=2 100").await.status(), 204);
    assert_eq!(server.post("/api/v2/write?bucket=r/two&precision=s", "m,t=x v=3 200").await.status(), 204);
    let r = server.post("/write?db=r&rp=nope", "m v=1 1").await;
    assert_eq!(r.status(), 404);

    assert_eq!(values(&server, "r", "SELECT v FROM m").await, json!([[100, 1.0]]));
    assert_eq!(values(&server, "r", "SELECT v FROM r.two.m").await, json!([[100, 2.0], [200, 3.0]]));
    assert_eq!(values(&server, "r", "SELECT v FROM r.autogen.m").await, json!([[100, 1.0]]));
    assert_eq!(values(&server, "", "SHOW DATABASES").await, json!([["r"]]), "policies are no databases");

    // DELETE spans every policy of the database.
    q(&server, "r", "DELETE FROM m WHERE time < 150s").await;
    assert_eq!(values(&server, "r", "SELECT v FROM r.two.m").await, json!([[200, 3.0]]));
    assert_eq!(values(&server, "r", "SELECT v FROM m").await, Value::Null);
}

#[tokio::test]
async fn select_into_writes_through_the_ingest_path_and_counts_points() {
    let (server, _data) = TestServer::spawn().await;
    server
        .write_ok(
            "src",
            "cpu,host=a,region=eu usage=1 0\ncpu,host=a,region=eu usage=3 60\ncpu,host=b,region=us usage=5 0",
        )
        .await;
    server.create_database("dst").await;
    let body = q(
        &server,
        "",
        "SELECT mean(usage) AS usage, max(usage) AS peak INTO dst..cpu_5m FROM src..cpu \
         WHERE time >= 0s AND time < 300s GROUP BY time(5m), *",
    )
    .await;
    assert_eq!(body["results"][0]["series"][0]["name"], "result");
    assert_eq!(body["results"][0]["series"][0]["values"], json!([[0, 2]]));
    let body = q(&server, "dst", "SELECT * FROM cpu_5m").await;
    assert_eq!(
        body["results"][0]["series"][0]["values"],
        json!([[0, "a", 3.0, "eu", 2.0], [0, "b", 5.0, "us", 5.0]]),
        "{body}"
    );
    assert_eq!(values(&server, "dst", "SHOW TAG KEYS").await, json!([["host"], ["region"]]));
}
