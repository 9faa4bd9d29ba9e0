//! InfluxQL SELECT with functions through `/query`: aggregates and selectors,
//! GROUP BY time with offsets and fill modes, transforms, math, subqueries,
//! and the panel query Grafana's InfluxDB datasource sends.
//!
//! The data is small enough to check every answer by hand: host `a` has
//! usage 1, 3, 5 and 9 at +0s, +10s, +20s and +40s (nothing at +30s); host
//! `b` has 10 and 20 at +0s and +10s. `disk` has one point without a host.

use serde_json::{Value, json};

use crate::server::TestServer;

const T0: i64 = 1_704_067_200;
const DATA: &str = "cpu,host=a usage=1 1704067200\ncpu,host=a usage=3 1704067210\ncpu,host=a usage=5 1704067220\n\
                    cpu,host=a usage=9 1704067240\ncpu,host=b usage=10 1704067200\ncpu,host=b usage=20 1704067210\n\
                    mem,host=a label=\"x\" 1704067200\ndisk,host=a free=1 1704067200\ndisk free=2 1704067210";

async fn setup() -> (TestServer, tempfile::TempDir) {
    let (server, data) = TestServer::spawn().await;
    server.write_ok("g", DATA).await;
    (server, data)
}

/// The series of the one statement in `q`, times in seconds; panics on an error.
async fn series(server: &TestServer, q: &str) -> Value {
    let body = result(server, q).await;
    assert!(body.get("error").is_none(), "{q}: {body}");
    body["series"].clone()
}

async fn result(server: &TestServer, q: &str) -> Value {
    let response = reqwest::Client::new()
        .get(server.url("/query"))
        .query(&[("db", "g"), ("q", q), ("epoch", "s")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{q}");
    let body: Value = response.json().await.expect("JSON body");
    body["results"][0].clone()
}

/// `[[time, value]...]` of the first series.
async fn values(server: &TestServer, q: &str) -> Value {
    series(server, q).await[0]["values"].clone()
}

#[tokio::test]
async fn aggregates_per_series_answer_at_time_zero_with_1x_types() {
    let (server, _data) = setup().await;
    let got = series(
        &server,
        "SELECT count(usage), sum(usage), mean(usage), spread(usage), median(usage) FROM cpu GROUP BY host",
    )
    .await;
    assert_eq!(
        got,
        json!([
            {"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "count", "sum", "mean", "spread", "median"],
             "values": [[0, 4, 18.0, 4.5, 8.0, 4.0]]},
            {"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "count", "sum", "mean", "spread", "median"],
             "values": [[0, 2, 30.0, 15.0, 10.0, 15.0]]}
        ])
    );
    let stddev = values(&server, "SELECT stddev(usage) FROM cpu WHERE host = 'b'").await;
    assert!((stddev[0][1].as_f64().unwrap() - 50f64.sqrt()).abs() < 1e-12, "{stddev}");
    // The trapezium area of host a, per second: 20 + 40 + 140.
    assert_eq!(values(&server, "SELECT integral(usage) FROM cpu WHERE host = 'a'").await, json!([[0, 200.0]]));
    assert_eq!(values(&server, "SELECT integral(usage, 10s) FROM cpu WHERE host = 'a'").await, json!([[0, 20.0]]));
    assert_eq!(values(&server, "SELECT count(distinct(usage)) FROM cpu").await, json!([[0, 6]]));
    let error = result(&server, "SELECT mean(label) FROM mem").await;
    assert_eq!(error["error"], "unsupported mean iterator type: string");
}

#[tokio::test]
async fn selectors_answer_the_chosen_points_time() {
    let (server, _data) = setup().await;
    assert_eq!(values(&server, "SELECT max(usage) FROM cpu WHERE host = 'a'").await, json!([[T0 + 40, 9.0]]));
    assert_eq!(values(&server, "SELECT first(usage), host FROM cpu WHERE usage > 2").await, json!([[T0, 10.0, "b"]]));
    assert_eq!(
        values(&server, "SELECT percentile(usage, 50) FROM cpu WHERE host = 'a'").await,
        json!([[T0 + 10, 3.0]])
    );
    // top() comes back in time order; with a tag, one point per tag value.
    assert_eq!(values(&server, "SELECT top(usage, 2) FROM cpu").await, json!([[T0, 10.0], [T0 + 10, 20.0]]));
    assert_eq!(
        values(&server, "SELECT top(usage, host, 2) FROM cpu").await,
        json!([[T0 + 10, 20.0, "b"], [T0 + 40, 9.0, "a"]])
    );
    assert_eq!(values(&server, "SELECT bottom(usage, 1) FROM cpu").await, json!([[T0, 1.0]]));
    // Under GROUP BY time a selector answers the window's start.
    assert_eq!(
        values(
            &server,
            &format!(
                "SELECT max(usage) FROM cpu WHERE host = 'a' AND time >= {T0}s AND time < {}s GROUP BY time(20s)",
                T0 + 60
            )
        )
        .await,
        json!([[T0, 3.0], [T0 + 20, 5.0], [T0 + 40, 9.0]])
    );
}

#[tokio::test]
async fn group_by_time_fills_empty_windows_as_asked() {
    let (server, _data) = setup().await;
    let q = |fill: &str| {
        format!(
            "SELECT mean(usage) FROM cpu WHERE host = 'a' AND time >= {T0}s AND time <= {}s GROUP BY time(10s) fill({fill})",
            T0 + 40
        )
    };
    let at = |v: Value| json!([[T0, 1.0], [T0 + 10, 3.0], [T0 + 20, 5.0], [T0 + 30, v], [T0 + 40, 9.0]]);
    assert_eq!(values(&server, &q("null")).await, at(Value::Null));
    assert_eq!(values(&server, &q("previous")).await, at(json!(5.0)));
    assert_eq!(values(&server, &q("linear")).await, at(json!(7.0)));
    assert_eq!(values(&server, &q("0")).await, at(json!(0)));
    assert_eq!(values(&server, &q("none")).await, json!([[T0, 1.0], [T0 + 10, 3.0], [T0 + 20, 5.0], [T0 + 40, 9.0]]));
    // count() of an empty window is 0, not null.
    let count = format!(
        "SELECT count(usage) FROM cpu WHERE host = 'a' AND time >= {}s AND time < {}s GROUP BY time(10s)",
        T0 + 20,
        T0 + 40
    );
    assert_eq!(values(&server, &count).await, json!([[T0 + 20, 1], [T0 + 30, 0]]));
    // An offset moves the window edges: [-10s, 10s), [10s, 30s), [30s, 50s).
    let offset = format!(
        "SELECT sum(usage) FROM cpu WHERE host = 'a' AND time >= {}s AND time < {}s GROUP BY time(20s, 10s)",
        T0 - 10,
        T0 + 50
    );
    assert_eq!(values(&server, &offset).await, json!([[T0 - 10, 1.0], [T0 + 10, 8.0], [T0 + 30, 9.0]]));
}

#[tokio::test]
async fn grafana_panel_query_returns_one_series_per_host() {
    let (server, _data) = setup().await;
    let q = format!(
        "SELECT mean(\"usage\") FROM \"cpu\" WHERE (\"host\" =~ /^a$/) AND time >= {}ms and time <= {}ms GROUP BY time(10s), \"host\" fill(null)",
        T0 * 1000,
        (T0 + 40) * 1000
    );
    assert_eq!(
        series(&server, &q).await,
        json!([{"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "mean"],
                "values": [[T0, 1.0], [T0 + 10, 3.0], [T0 + 20, 5.0], [T0 + 30, null], [T0 + 40, 9.0]]}])
    );
}

#[tokio::test]
async fn transforms_run_over_each_series() {
    let (server, _data) = setup().await;
    let a = "FROM cpu WHERE host = 'a'";
    assert_eq!(
        values(&server, &format!("SELECT derivative(usage, 10s) {a}")).await,
        json!([[T0 + 10, 2.0], [T0 + 20, 2.0], [T0 + 40, 2.0]])
    );
    assert_eq!(
        values(&server, &format!("SELECT difference(usage) {a}")).await,
        json!([[T0 + 10, 2.0], [T0 + 20, 2.0], [T0 + 40, 4.0]])
    );
    assert_eq!(
        values(&server, &format!("SELECT moving_average(usage, 2) {a}")).await,
        json!([[T0 + 10, 2.0], [T0 + 20, 4.0], [T0 + 40, 7.0]])
    );
    assert_eq!(
        values(&server, &format!("SELECT cumulative_sum(usage) {a}")).await,
        json!([[T0, 1.0], [T0 + 10, 4.0], [T0 + 20, 9.0], [T0 + 40, 18.0]])
    );
    assert_eq!(
        values(&server, &format!("SELECT elapsed(usage, 10s) {a}")).await,
        json!([[T0 + 10, 1], [T0 + 20, 1], [T0 + 40, 2]])
    );
    // Over an aggregate, per window (empty windows are skipped, not zeros).
    let nested = format!(
        "SELECT non_negative_difference(max(usage)) FROM cpu WHERE time >= {T0}s AND time < {}s GROUP BY time(10s), host",
        T0 + 50
    );
    let got = series(&server, &nested).await;
    assert_eq!(got[0]["values"], json!([[T0 + 10, 2.0], [T0 + 20, 2.0], [T0 + 40, 4.0]]));
    assert_eq!(got[1]["values"], json!([[T0 + 10, 10.0]]));
    // chande_momentum_oscillator is unsmoothed by default: changes +2, +2 over two changes.
    assert_eq!(
        values(&server, &format!("SELECT chande_momentum_oscillator(usage, 3) {a}")).await,
        json!([[T0 + 20, 100.0], [T0 + 40, 100.0]])
    );
    let error = result(&server, "SELECT derivative(mean(usage)) FROM cpu").await;
    assert_eq!(error["error"], "derivative aggregate requires a GROUP BY interval");
}

#[tokio::test]
async fn math_and_subqueries() {
    let (server, _data) = setup().await;
    assert_eq!(
        values(&server, "SELECT abs(usage - 5), usage * 2 FROM cpu WHERE host = 'a'").await,
        json!([[T0, 4.0, 2.0], [T0 + 10, 2.0, 6.0], [T0 + 20, 0.0, 10.0], [T0 + 40, 4.0, 18.0]])
    );
    // Repeated generated names get suffixes; aliases stay as written.
    let got = series(&server, "SELECT max(usage), max(usage), min(usage) AS max_1 FROM cpu WHERE host = 'b'").await;
    assert_eq!(got[0]["columns"], json!(["time", "max", "max_2", "max_1"]));
    assert_eq!(
        values(&server, "SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu GROUP BY host)").await,
        json!([[0, 15.0]])
    );
}

#[tokio::test]
async fn a_missing_tag_compares_as_the_empty_string() {
    let (server, _data) = setup().await;
    assert_eq!(values(&server, "SELECT free FROM disk WHERE host = ''").await, json!([[T0 + 10, 2.0]]));
    assert_eq!(values(&server, "SELECT free FROM disk WHERE host != 'a'").await, json!([[T0 + 10, 2.0]]));
    assert_eq!(values(&server, "SELECT free FROM disk WHERE host != ''").await, json!([[T0, 1.0]]));
    assert_eq!(values(&server, "SELECT free FROM disk WHERE nosuch = ''").await, json!([[T0, 1.0], [T0 + 10, 2.0]]));
    assert_eq!(
        values(&server, "SELECT free FROM disk WHERE healthy = true").await,
        Value::Null,
        "an absent field matches nothing, without a type error"
    );
}

#[tokio::test]
async fn descending_order_limits_and_wildcards_across_measurements() {
    let (server, _data) = setup().await;
    // Newest first, as 1.x feeds transforms under ORDER BY time DESC.
    assert_eq!(
        values(&server, "SELECT derivative(usage, 10s) FROM cpu WHERE host = 'a' ORDER BY time DESC").await,
        json!([[T0 + 20, -2.0], [T0 + 10, -2.0], [T0, -2.0]])
    );
    // No upper bound means now(): a limit keeps that from being billions of buckets.
    assert_eq!(
        values(
            &server,
            &format!("SELECT count(usage) FROM cpu WHERE host = 'a' AND time >= {T0}s GROUP BY time(1s) LIMIT 2")
        )
        .await,
        json!([[T0, 1], [T0 + 1, 0]])
    );
    // count(*) expands over every source's fields; a field this source lacks is null.
    let got = series(&server, "SELECT count(*) FROM cpu, disk").await;
    assert_eq!(
        got,
        json!([
            {"name": "cpu", "columns": ["time", "count_free", "count_usage"], "values": [[0, null, 6]]},
            {"name": "disk", "columns": ["time", "count_free", "count_usage"], "values": [[0, 2, null]]}
        ])
    );
}

#[tokio::test]
async fn the_newest_point_of_each_series_comes_from_its_own_last_time() {
    let (server, _data) = setup().await;
    // Host b's last point is older than host a's: the scan that starts at the
    // oldest of the newest times must still reach it.
    let got = series(&server, "SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1").await;
    assert_eq!(
        got,
        json!([
            {"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "usage"], "values": [[T0 + 40, 9.0]]},
            {"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "usage"], "values": [[T0 + 10, 20.0]]}
        ])
    );
    let got = values(&server, "SELECT usage FROM cpu WHERE host = 'nobody' ORDER BY time DESC LIMIT 1").await;
    assert_eq!(got, Value::Null);
}

#[tokio::test]
async fn buckets_reduced_by_the_scan_keep_fill_and_counts() {
    let (server, _data) = setup().await;
    let window = format!("time >= {T0}s AND time < {}s", T0 + 60);
    let got = series(
        &server,
        &format!("SELECT count(usage), max(usage), mean(usage) FROM cpu WHERE {window} GROUP BY time(20s), host"),
    )
    .await;
    assert_eq!(got[0]["values"], json!([[T0, 2, 3.0, 2.0], [T0 + 20, 1, 5.0, 5.0], [T0 + 40, 1, 9.0, 9.0]]));
    // Host b has nothing after +10s: count fills 0, the others null.
    assert_eq!(got[1]["values"], json!([[T0, 2, 20.0, 15.0], [T0 + 20, 0, null, null], [T0 + 40, 0, null, null]]));
    let got = values(
        &server,
        &format!("SELECT sum(usage) FROM cpu WHERE {window} AND host = 'a' GROUP BY time(20s) fill(-1)"),
    )
    .await;
    assert_eq!(got, json!([[T0, 4.0], [T0 + 20, 5.0], [T0 + 40, 9.0]]));
    let got = values(
        &server,
        &format!("SELECT sum(usage) FROM cpu WHERE {window} AND host = 'b' GROUP BY time(20s) fill(-1)"),
    )
    .await;
    assert_eq!(got, json!([[T0, 30.0], [T0 + 20, -1], [T0 + 40, -1]]));
}
