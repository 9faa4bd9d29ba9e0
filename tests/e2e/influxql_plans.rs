//! The plans behind representative InfluxQL queries, pinned as snapshots of
//! `EXPLAIN`: what each source scans (filters pushed into the table scan,
//! the columns read, the series order) and how its rows become series.

use serde_json::Value;

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1,idle=9i 1704067200\ncpu,host=b,region=us usage=2,idle=8i 1704067210\n\
                    mem,host=a used=5i 1704067200";

async fn explain(server: &TestServer, q: &str) -> String {
    let body: Value = reqwest::Client::new()
        .get(server.url("/query"))
        .query(&[("db", "p"), ("q", &format!("EXPLAIN {q}"))])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body");
    let result = &body["results"][0];
    assert!(result.get("error").is_none(), "{q}: {body}");
    assert_eq!(result["series"][0]["columns"][0], "QUERY PLAN");
    let lines: Vec<&str> =
        result["series"][0]["values"].as_array().expect("rows").iter().filter_map(|row| row[0].as_str()).collect();
    format!("{q}\n\n{}", lines.join("\n"))
}

#[tokio::test]
async fn influxql_plans() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("p", DATA).await;
    let queries = [
        ("raw_where", "SELECT usage, host FROM cpu WHERE region = 'eu' AND time >= '2024-01-01T00:00:00Z'"),
        (
            "grafana_panel",
            "SELECT mean(\"usage\") FROM \"cpu\" WHERE (\"host\" =~ /^a$/) AND time >= 1704067200000ms and time <= 1704070800000ms GROUP BY time(10s), \"host\" fill(null)",
        ),
        ("selector_group_by_tags", "SELECT max(usage), region FROM cpu GROUP BY host"),
        (
            "transform_of_aggregate",
            "SELECT derivative(mean(usage), 1s) FROM cpu WHERE time >= 1704067200s AND time < 1704067260s GROUP BY time(10s, 5s) fill(none)",
        ),
        ("regex_sources_and_wildcard", "SELECT * FROM /^(cpu|mem)$/"),
        ("subquery", "SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu GROUP BY host)"),
    ];
    for (name, q) in queries {
        insta::assert_snapshot!(name, explain(&server, q).await);
    }
}
