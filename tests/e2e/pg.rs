//! The Postgres wire protocol with real clients: tokio-postgres and psql.

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1.5,n=3i 1704067200\ncpu,host=b,region=us usage=2.5,n=4i 1704067260";

#[tokio::test]
async fn simple_and_extended_queries_return_typed_rows() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;

    let rows = client
        .query(
            "SELECT host, region, usage, n, time FROM cpu ORDER BY host",
            &[],
        )
        .await
        .expect("extended query");
    assert_eq!(rows.len(), 2);
    let types: Vec<_> = rows[0]
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    assert_eq!(types, ["text", "text", "float8", "int8", "timestamp"]);
    assert_eq!(rows[0].get::<_, &str>("host"), "a");
    assert_eq!(rows[0].get::<_, f64>("usage"), 1.5);
    assert_eq!(rows[1].get::<_, i64>("n"), 4);

    let rows = client
        .query("SELECT usage FROM cpu WHERE host = $1", &[&"b"])
        .await
        .expect("bound parameter");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, f64>(0), 2.5);

    let messages = client
        .simple_query("SELECT count(*) FROM cpu")
        .await
        .expect("simple query");
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
            _ => None,
        })
        .flatten();
    assert_eq!(row.as_deref(), Some("2"));
}

#[tokio::test]
async fn errors_carry_sqlstates_and_the_connection_stays_usable() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    match server.pg_result("nosuchdb").await {
        Err(e) => assert_eq!(e.code().map(|c| c.code()), Some("3D000"), "{e}"),
        Ok(_) => panic!("connected to a database that does not exist"),
    }
    let client = server.pg("demo").await;
    for (q, code) in [
        ("SELECT * FROM nosuch", "42P01"),
        ("SELECT usgae FROM cpu", "42703"),
        ("SELEC 1", "42601"),
        ("COPY (SELECT 1) TO '/tmp/sediment-pg-pwned.csv'", "42501"),
    ] {
        let e = client.query(q, &[]).await.expect_err(q);
        assert_eq!(e.code().map(|c| c.code()), Some(code), "{q}: {e}");
        let e = client.simple_query(q).await.expect_err(q);
        assert_eq!(e.code().map(|c| c.code()), Some(code), "{q} (simple): {e}");
    }
    let rows = client
        .query("SELECT count(*) FROM cpu", &[])
        .await
        .expect("still usable");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
}

#[tokio::test]
async fn psql_shows_the_row() {
    let (server, _data) = TestServer::spawn().await;
    server
        .write_ok("demo", "cpu,host=a,region=eu usage=1.5,n=3i 1704067200")
        .await;
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.pg_port.to_string(),
            "-d",
            "demo",
            "-U",
            "anyone",
            "-X",
            "-A",
            "-c",
        ])
        .arg("SELECT host, region, usage, n, time FROM cpu")
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql runs (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("host|region|usage|n|time"), "{stdout}");
    assert!(
        stdout.contains("a|eu|1.5|3|2024-01-01 00:00:00"),
        "{stdout}"
    );
}
