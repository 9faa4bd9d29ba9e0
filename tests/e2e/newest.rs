//! The newest point of each series (TSBS lastpoint, current-value panels),
//! answered from the last cache: it must give the answer a scan of the whole
//! history gives, through later writes, same-time merges, late points, new
//! series, DELETE, persistence and restarts, and only for the filters that
//! keep the newest row.

use serde_json::{Value, json};

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1,idle=90 1704067200\n\
                    cpu,host=a,region=eu usage=3,idle=80 1704067210\n\
                    cpu,host=b,region=us usage=7,idle=70 1704067200\n\
                    cpu,host=b,region=us usage=2,idle=60 1704067230";

const NEWEST: &str = "SELECT DISTINCT ON (host) host, time, usage, idle FROM cpu ORDER BY host, time DESC";

const T0: i64 = 1_704_067_200;

/// `T0 + offset` as SQL's JSON writes a timestamp (offset within an hour of T0).
fn ts(seconds: i64) -> String {
    match seconds - T0 {
        o if o >= 0 => format!("2024-01-01T00:{:02}:{:02}", o / 60, o % 60),
        o => format!("2023-12-31T23:{:02}:{:02}", (3600 + o) / 60, (3600 + o) % 60),
    }
}

/// A row as the JSON format writes it: null columns left out.
fn row(host: &str, seconds: i64, usage: Option<f64>, idle: Option<f64>) -> Value {
    let mut row = json!({"host": host, "time": ts(seconds)});
    for (name, value) in [("usage", usage), ("idle", idle)] {
        if let Some(v) = value {
            row[name] = json!(v);
        }
    }
    row
}

/// Whether `q`'s physical plan reads Parquet files (the history).
async fn reads_parquet(server: &TestServer, q: &str) -> bool {
    let rows = server.sql("n", &format!("EXPLAIN {q}")).await;
    let text: String = rows.iter().map(|r| r["plan"].as_str().unwrap_or_default()).collect();
    assert!(text.contains("DataSourceExec"), "{text}");
    text.contains("file_groups")
}

async fn influxql(server: &TestServer, q: &str) -> Value {
    let body = server.influxql("n", q).await;
    assert!(body["results"][0].get("error").is_none(), "{q}: {body}");
    body["results"][0]["series"].clone()
}

#[tokio::test]
async fn newest_rows_follow_every_write_delete_and_restart() {
    let (mut server, _data) = TestServer::spawn_args(&["--persist-interval", "1h"]).await;
    server.write_ok("n", DATA).await;
    // A clean shutdown persists: the history is in Parquet.
    server.restart_clean().await;
    let t = T0;
    let expected = vec![row("a", t + 10, Some(3.0), Some(80.0)), row("b", t + 30, Some(2.0), Some(60.0))];
    assert_eq!(server.sql("n", NEWEST).await, expected, "warming scan");
    assert!(!reads_parquet(&server, NEWEST).await, "the newest rows come from the cache");

    // A newer point carrying one field; then the other field at the same time.
    server.write_ok("n", "cpu,host=a,region=eu usage=5 1704067250").await;
    assert_eq!(server.sql("n", NEWEST).await[0], row("a", t + 50, Some(5.0), None));
    server.write_ok("n", "cpu,region=eu,host=a idle=50 1704067250").await;
    assert_eq!(server.sql("n", NEWEST).await[0], row("a", t + 50, Some(5.0), Some(50.0)), "tags in another order");
    // A late point changes nothing; a new series appears.
    server.write_ok("n", "cpu,host=b,region=us usage=99 1704067100\ncpu,host=c,region=us usage=4 1704067300").await;
    let got = server.sql("n", NEWEST).await;
    assert_eq!(got[1], row("b", t + 30, Some(2.0), Some(60.0)));
    assert_eq!(got[2], row("c", t + 100, Some(4.0), None));

    // Filters that keep the newest row use the cache; others must not.
    let by_region = "SELECT DISTINCT ON (region) region, host, time FROM cpu WHERE region = 'us' AND time > '2024-01-01T00:00:05Z' ORDER BY region, time DESC";
    assert_eq!(server.sql("n", by_region).await, vec![json!({"region": "us", "host": "c", "time": ts(t + 100)})]);
    let field_filter =
        "SELECT DISTINCT ON (host) host, time, usage, idle FROM cpu WHERE usage > 4 ORDER BY host, time DESC";
    assert_eq!(
        server.sql("n", field_filter).await,
        vec![row("a", t + 50, Some(5.0), Some(50.0)), row("b", t, Some(7.0), Some(70.0))],
    );
    assert!(reads_parquet(&server, field_filter).await, "a field filter reads history");
    let upper =
        "SELECT DISTINCT ON (host) host, time FROM cpu WHERE time < '2024-01-01T00:00:20Z' ORDER BY host, time DESC";
    assert_eq!(
        server.sql("n", upper).await,
        vec![json!({"host": "a", "time": ts(t + 10)}), json!({"host": "b", "time": ts(t)})]
    );

    // A subquery can look at the row's time: the newest row is no answer then.
    server.write_ok("n", "alerts,host=a seen=1 1704067200").await;
    let alerted = "SELECT DISTINCT ON (host) host, time FROM cpu \
                   WHERE EXISTS (SELECT 1 FROM alerts WHERE alerts.host = cpu.host AND alerts.time = cpu.time) \
                   ORDER BY host, time DESC";
    assert_eq!(server.sql("n", alerted).await, vec![json!({"host": "a", "time": ts(t)})]);

    // InfluxQL: the newest point per host; `idle` is missing from c's newest
    // point, so `SELECT idle` must scan for the newest point that has it.
    let got = influxql(&server, "SELECT usage FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1").await;
    let values: Vec<Value> = got.as_array().expect("series").iter().map(|s| s["values"][0].clone()).collect();
    assert_eq!(values, vec![json!([t + 50, 5.0]), json!([t + 30, 2.0]), json!([t + 100, 4.0])]);
    let got = influxql(&server, "SELECT idle FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1").await;
    let hosts: Vec<Value> = got.as_array().expect("series").iter().map(|s| s["tags"]["host"].clone()).collect();
    assert_eq!(hosts, vec![json!("a"), json!("b")], "{got}");

    // DELETE takes the newest points away; the next query scans again.
    server.influxql("n", "DELETE FROM cpu WHERE host = 'a' AND time >= '2024-01-01T00:00:40Z'").await;
    assert_eq!(server.sql("n", NEWEST).await[0], row("a", t + 10, Some(3.0), Some(80.0)), "after DELETE");

    // After a restart the rows are in Parquet and the cache starts cold.
    server.restart().await;
    server.write_ok("n", "cpu,host=b,region=us idle=1 1704067230").await;
    let got = server.sql("n", NEWEST).await;
    assert_eq!(
        got,
        vec![
            row("a", t + 10, Some(3.0), Some(80.0)),
            row("b", t + 30, Some(2.0), Some(1.0)),
            row("c", t + 100, Some(4.0), None),
        ]
    );
}

#[tokio::test]
async fn influxql_newest_points_skip_points_without_the_selected_values() {
    let (server, _data) = TestServer::spawn().await;
    // Host a's newest point has no y; n's newest v is negative.
    server
        .write_ok(
            "n",
            "m,host=a x=1,y=1 1704067200\nm,host=a x=2 1704067210\nm,host=b x=-4,y=3 1704067205\n\
             n,host=a v=4 1704067200\nn,host=a v=-1 1704067210",
        )
        .await;
    let (t, by_host) = (T0, "GROUP BY host ORDER BY time DESC LIMIT 1");
    // Warm the caches of both tables first, through SQL.
    server.sql("n", "SELECT DISTINCT ON (host) * FROM m ORDER BY host, time DESC").await;
    server.sql("n", "SELECT DISTINCT ON (host) * FROM n ORDER BY host, time DESC").await;
    let newest = async |what: &str| {
        let got = influxql(&server, &format!("SELECT {what} {by_host}")).await;
        got.as_array().map(|series| series.iter().map(|s| s["values"].clone()).collect::<Vec<Value>>())
    };
    assert_eq!(newest("y FROM m").await, Some(vec![json!([[t, 1.0]]), json!([[t + 5, 3.0]])]));
    assert_eq!(newest("x FROM m").await, Some(vec![json!([[t + 10, 2.0]]), json!([[t + 5, -4.0]])]));
    assert_eq!(newest("v FROM n").await, Some(vec![json!([[t + 10, -1.0]])]));
    assert_eq!(newest("sqrt(v) FROM n").await, Some(vec![json!([[t, 2.0]])]));
}
