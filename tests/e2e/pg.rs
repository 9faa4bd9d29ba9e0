//! The Postgres wire protocol with real clients: tokio-postgres and psql.

use crate::server::TestServer;

const DATA: &str = "cpu,host=a,region=eu usage=1.5,n=3i 1704067200\ncpu,host=b,region=us usage=2.5,n=4i 1704067260";

#[tokio::test]
async fn simple_and_extended_queries_return_typed_rows() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;

    let rows =
        client.query("SELECT host, region, usage, n, time FROM cpu ORDER BY host", &[]).await.expect("extended query");
    assert_eq!(rows.len(), 2);
    let types: Vec<_> = rows[0].columns().iter().map(|c| c.type_().name().to_owned()).collect();
    assert_eq!(types, ["text", "text", "float8", "int8", "timestamp"]);
    assert_eq!(rows[0].get::<_, &str>("host"), "a");
    assert_eq!(rows[0].get::<_, f64>("usage"), 1.5);
    assert_eq!(rows[1].get::<_, i64>("n"), 4);

    let rows = client.query("SELECT usage FROM cpu WHERE host = $1", &[&"b"]).await.expect("bound parameter");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, f64>(0), 2.5);

    let messages = client.simple_query("SELECT count(*) FROM cpu").await.expect("simple query");
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
    let rows = client.query("SELECT count(*) FROM cpu", &[]).await.expect("still usable");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
}

#[tokio::test]
async fn psql_shows_the_row() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", "cpu,host=a,region=eu usage=1.5,n=3i 1704067200").await;
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string(), "-d", "demo", "-U", "anyone", "-X", "-A", "-c"])
        .arg("SELECT host, region, usage, n, time FROM cpu")
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql runs (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("host|region|usage|n|time"), "{stdout}");
    assert!(stdout.contains("a|eu|1.5|3|2024-01-01 00:00:00"), "{stdout}");
}

#[tokio::test]
async fn session_statements_are_answered_like_postgres() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    let version: String = client.query_one("SELECT version()", &[]).await.expect("version").get(0);
    assert!(version.starts_with("PostgreSQL 15.0 (sediment "), "{version}");
    let db: String = client.query_one("SELECT current_database()", &[]).await.expect("db").get(0);
    assert_eq!(db, "demo");

    client.batch_execute("SET application_name = 'e2e'; SET extra_float_digits = 3").await.expect("SET");
    let rows = client.simple_query("SHOW application_name").await.expect("SHOW");
    let shown = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(shown.as_deref(), Some("e2e"));
    let row = client.query_one("SHOW extra_float_digits", &[]).await.expect("SHOW over the extended protocol");
    assert_eq!(row.get::<_, &str>(0), "3");
    client.batch_execute("RESET ALL").await.expect("RESET");
    let row = client.query_one("SHOW extra_float_digits", &[]).await.expect("SHOW");
    assert_eq!(row.get::<_, &str>(0), "1");

    // Transactions are read-only and accepted, in both protocols.
    let mut client = client;
    let tx = client.build_transaction().read_only(true).start().await.expect("BEGIN");
    let n: i64 = tx.query_one("SELECT count(*) FROM cpu", &[]).await.expect("in tx").get(0);
    assert_eq!(n, 2);
    tx.commit().await.expect("COMMIT");
    client.batch_execute("BEGIN; SELECT 1; ROLLBACK; DISCARD ALL; UNLISTEN *").await.expect("no-ops");

    for (q, code) in [
        ("SET datafusion.execution.batch_size = 1", "42501"),
        ("SET server_version = '99'", "42501"),
        ("SHOW no_such_setting", "22023"),
    ] {
        let e = client.batch_execute(q).await.expect_err(q);
        assert_eq!(e.code().map(|c| c.code()), Some(code), "{q}: {e}");
    }
}

#[tokio::test]
async fn influxql_mode_is_refused_until_the_influxql_front_end_lands() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    client.batch_execute("SET sediment.query_language = 'influxql'").await.expect("switch");
    let e = client.simple_query("SELECT mean(usage) FROM cpu").await.expect_err("InfluxQL not yet");
    assert_eq!(e.code().map(|c| c.code()), Some("0A000"), "{e}");
    client.batch_execute("SET sediment.query_language = 'sql'").await.expect("switch back");
    let n: i64 = client.query_one("SELECT count(*) FROM cpu", &[]).await.expect("SQL again").get(0);
    assert_eq!(n, 2);
}

fn psql(server: &TestServer, args: &[&str]) -> String {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string(), "-d", "demo", "-U", "anyone", "-X", "-A"])
        .args(args)
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn psql_lists_and_describes_tables_and_copies_to_stdout() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let tables = psql(&server, &["-c", "\\dt"]);
    assert!(tables.contains("public|cpu|table|"), "{tables}");
    let described = psql(&server, &["-c", "\\d cpu"]);
    for column in ["time|timestamp", "host|text", "usage|double precision", "n|bigint"] {
        assert!(described.contains(column), "{column} missing from: {described}");
    }
    let csv = psql(&server, &["-c", "\\copy (SELECT host, usage, n FROM cpu ORDER BY host) TO STDOUT WITH CSV HEADER"]);
    assert_eq!(csv, "host,usage,n\na,1.5,3\nb,2.5,4\n");
    let text = psql(&server, &["-c", "COPY (SELECT host, region FROM cpu ORDER BY host) TO STDOUT"]);
    assert_eq!(text, "a\teu\nb\tus\n");
}

#[tokio::test]
async fn statement_timeout_and_cancel_end_a_running_query_with_57014() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    let slow = "SELECT count(*) FROM generate_series(1, 5000000000) AS t(v) WHERE v % 7 = 3";
    client.batch_execute("SET statement_timeout = '200ms'").await.expect("SET");
    let started = std::time::Instant::now();
    let e = client.simple_query(slow).await.expect_err("times out");
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e}");
    let message = e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_default();
    assert!(message.contains("statement timeout"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    client.batch_execute("SET statement_timeout = 0").await.expect("SET");
    assert!(client.batch_execute("SET statement_timeout = 'soon'").await.is_err());

    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await
    });
    let e = client.simple_query(slow).await.expect_err("canceled");
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e}");
    canceller.await.expect("joins").expect("cancel sent");
    let n: i64 = client.query_one("SELECT count(*) FROM cpu", &[]).await.expect("usable after").get(0);
    assert_eq!(n, 2);
}

fn simple_rows(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn cursors_hand_out_rows_forward_in_pieces() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    client.batch_execute("BEGIN; DECLARE c CURSOR FOR SELECT host FROM cpu ORDER BY host").await.expect("DECLARE");
    assert_eq!(simple_rows(&client.simple_query("FETCH 1 FROM c").await.expect("FETCH")), ["a"]);
    assert_eq!(simple_rows(&client.simple_query("FETCH ALL FROM c").await.expect("FETCH")), ["b"]);
    assert!(simple_rows(&client.simple_query("FETCH 5 FROM c").await.expect("FETCH")).is_empty());
    let e = client.batch_execute("DECLARE c CURSOR FOR SELECT 1").await.expect_err("duplicate");
    assert_eq!(e.code().map(|c| c.code()), Some("42P07"), "{e}");
    client.batch_execute("CLOSE c; COMMIT").await.expect("CLOSE");
    let e = client.simple_query("FETCH 1 FROM c").await.expect_err("closed");
    assert_eq!(e.code().map(|c| c.code()), Some("22023"), "{e}");
}

#[tokio::test]
async fn bi_tool_functions_answer() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    let q =
        "SELECT count(*) FROM cpu WHERE time >= TO_TIMESTAMP('2024-01-01 00:00:30.000000', 'YYYY-MM-DD HH24:MI:SS.US')";
    let n: i64 = client.query_one(q, &[]).await.expect("Postgres template").get(0);
    assert_eq!(n, 1);
    let seq: Option<String> =
        client.query_one("SELECT pg_get_serial_sequence('cpu', 'host')", &[]).await.expect("serial").get(0);
    assert_eq!(seq, None);
    let e = client.query("SELECT TO_TIMESTAMP('nope', 'YYYY-MM-DD')", &[]).await.expect_err("bad literal");
    assert_eq!(e.code().map(|c| c.code()), Some("22P02"), "{e}");
}

fn create_user(data: &std::path::Path, name: &str, password: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sediment"))
        .args(["user", "create", name, "--data-dir"])
        .arg(data)
        .env("SEDIMENT_USER_PASSWORD", password)
        .output()
        .expect("sediment user create runs");
    assert!(out.status.success(), "user create failed: {}", String::from_utf8_lossy(&out.stderr));
}

async fn login(
    server: &TestServer,
    user: &str,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(server.pg_port).user(user).dbname("demo");
    if let Some(password) = password {
        config.password(password);
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[tokio::test]
async fn passwords_are_checked_with_scram_md5_and_cleartext() {
    let data = tempfile::tempdir().expect("tempdir");
    create_user(data.path(), "alice", "s3cret");
    for method in ["scram-sha-256", "md5", "password"] {
        let server =
            TestServer::start(crate::server::Store::Dir(data.path().to_path_buf()), &["--pg-auth-method", method])
                .await;
        server.write_ok("demo", DATA).await;
        let client = login(&server, "alice", Some("s3cret")).await.unwrap_or_else(|e| panic!("{method}: {e}"));
        let n: i64 = client.query_one("SELECT count(*) FROM cpu", &[]).await.expect("query").get(0);
        assert_eq!(n, 2, "{method}");
        for (user, password) in [("alice", "wrong"), ("bob", "s3cret")] {
            let e =
                login(&server, user, Some(password)).await.err().unwrap_or_else(|| panic!("{method}: {user} got in"));
            assert_eq!(e.code().map(|c| c.code()), Some("28P01"), "{method} {user}: {e}");
        }
        assert!(login(&server, "alice", None).await.is_err(), "{method}: no password");
    }
}

#[tokio::test]
async fn a_user_created_while_the_server_runs_ends_trust() {
    let (server, data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    assert!(login(&server, "anyone", None).await.is_ok(), "trusted while no users exist");
    create_user(data.path(), "carol", "pw");
    // tokio-postgres gives up on its own side when asked for a password it lacks.
    assert!(login(&server, "anyone", None).await.is_err(), "a password is now required");
    let e = login(&server, "anyone", Some("guess")).await.expect_err("unknown user refused");
    assert_eq!(e.code().map(|c| c.code()), Some("28P01"), "{e}");
    assert!(login(&server, "carol", Some("pw")).await.is_ok());
}

#[tokio::test]
async fn a_public_bind_without_users_refuses_to_start() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sediment"))
        .args(["serve", "--http-bind", "0.0.0.0:0", "--pg-bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0") && stderr.contains("--insecure-no-auth"), "{stderr}");
}

fn psql_conninfo(server: &TestServer, sslmode: &str) -> std::process::Output {
    std::process::Command::new("psql")
        .arg(format!("host=127.0.0.1 port={} dbname=demo user=anyone sslmode={sslmode}", server.pg_port))
        .args(["-X", "-A", "-c", "\\conninfo", "-c", "SELECT count(*) FROM cpu"])
        .output()
        .expect("psql runs")
}

#[tokio::test]
async fn tls_is_offered_when_a_certificate_is_configured() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let tls_args = ["--pg-tls-cert", cert.to_str().expect("utf-8"), "--pg-tls-key", key.to_str().expect("utf-8")];
    let (server, _data) = TestServer::spawn_args(&tls_args).await;
    server.write_ok("demo", DATA).await;
    let out = psql_conninfo(&server, "require");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("SSL connection"), "{stdout}");
    assert!(stdout.contains("\n2\n"), "{stdout}");
    // Plain connections still work when the client does not insist.
    assert!(psql_conninfo(&server, "disable").status.success());

    let (plain, _data) = TestServer::spawn().await;
    plain.write_ok("demo", DATA).await;
    let out = psql_conninfo(&plain, "require");
    assert!(!out.status.success(), "TLS required but the server has no certificate");
    assert!(psql_conninfo(&plain, "prefer").status.success(), "'N' to SSLRequest, then plain text");

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_sediment"))
        .args(["serve", "--http-bind", "127.0.0.1:0", "--pg-bind", "127.0.0.1:0", "--data-dir"])
        .arg(certs.path().join("data"))
        .args(["--pg-tls-cert", "/nonexistent/cert.pem", "--pg-tls-key", "/nonexistent/key.pem"])
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cert.pem"));
}

#[tokio::test]
async fn catalog_queries_of_jdbc_sqlalchemy_and_grafana_plan() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    // pgjdbc's type lookup compares function names with a regproc literal.
    let rows = client
        .simple_query("SELECT typinput='pg_catalog.array_in'::regproc AS is_array, typname FROM pg_catalog.pg_type WHERE typname = '_int4'")
        .await
        .expect("regproc comparison");
    assert_eq!(simple_rows(&rows), ["t"]);
    let row = client.query_one("SELECT current_setting('search_path')", &[]).await.expect("current_setting");
    assert_eq!(row.get::<_, &str>(0), "\"$user\", public");
    client.batch_execute("SET search_path = public").await.expect("SET");
    let row = client.query_one("SELECT current_setting('search_path')", &[]).await.expect("current_setting");
    assert_eq!(row.get::<_, &str>(0), "public", "current_setting reads the session's live value");
    // Grafana: a function in FROM names its column after the alias; bare `user`.
    let rows = client
        .simple_query(
            "SELECT CASE WHEN trim(s[i]) = 'x' THEN user ELSE trim(s[i]) END FROM \
             generate_series(1, 2) AS i, string_to_array('a, b', ',') s ORDER BY 1",
        )
        .await
        .expect("Grafana's search_path construct");
    assert_eq!(simple_rows(&rows), ["a", "b"]);
    let row = client.query_one("SELECT json_build_object('n', 1, 's', 'x')", &[]).await.expect("json_build_object");
    assert_eq!(row.get::<_, &str>(0), r#"{"n":1,"s":"x"}"#);
}

#[tokio::test]
async fn percentile_disc_picks_a_value_of_the_group() {
    let (server, _data) = TestServer::spawn().await;
    let lines: String = (1..=10).map(|i| format!("m,g=a v={i}i {i}\n")).collect();
    server.write_ok("demo", &lines).await;
    let client = server.pg("demo").await;
    let row = client
        .query_one(
            "SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY v), percentile_disc(0.5) WITHIN GROUP (ORDER BY v), \
             percentile_disc(0.9) WITHIN GROUP (ORDER BY v DESC) FROM m",
            &[],
        )
        .await
        .expect("percentile_disc");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (9, 5, 2));
}

#[tokio::test]
async fn in_subqueries_work_in_the_select_list() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    let rows = client
        .simple_query("SELECT host, CASE WHEN host IN (SELECT host FROM cpu WHERE usage > 2) THEN 'hot' ELSE 'ok' END FROM cpu ORDER BY host")
        .await
        .expect("IN subquery in a CASE");
    let got: Vec<String> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(format!("{}={}", r.get(0)?, r.get(1)?)),
            _ => None,
        })
        .collect();
    assert_eq!(got, ["a=ok", "b=hot"]);
}

#[tokio::test]
async fn row_limited_execute_suspends_the_portal_and_resumes_it() {
    let (server, _data) = TestServer::spawn().await;
    let lines: Vec<String> = (0..5).map(|i| format!("cpu,host=h{i} usage={i} 1704067200")).collect();
    server.write_ok("demo", &lines.join("\n")).await;
    let mut client = server.pg("demo").await;
    let tx = client.transaction().await.expect("BEGIN");
    let statement = tx.prepare("SELECT host FROM cpu ORDER BY host").await.expect("Parse");
    let portal = tx.bind(&statement, &[]).await.expect("Bind");
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        // Each call is Execute with max_rows 2: PortalSuspended until the rows run out.
        let rows = tx.query_portal(&portal, 2).await.expect("Execute");
        assert_eq!(rows.len(), expected, "rows so far: {seen:?}");
        seen.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    assert_eq!(seen, ["h0", "h1", "h2", "h3", "h4"]);
    tx.commit().await.expect("COMMIT");
}

#[tokio::test]
async fn gssenc_request_is_declined_and_startup_goes_on() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", server.pg_port)).await.expect("connect");
    // GSSENCRequest: length 8, code 80877104. The answer is one byte, 'N'.
    socket.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]).await.expect("send GSSENCRequest");
    let mut answer = [0u8; 1];
    socket.read_exact(&mut answer).await.expect("GSSENC answer");
    assert_eq!(answer[0], b'N');
    // The same connection then starts in plain text.
    let params = b"user\0tester\0database\0demo\0\0";
    let mut startup = Vec::new();
    startup.extend_from_slice(&u32::try_from(8 + params.len()).expect("small").to_be_bytes());
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(params);
    socket.write_all(&startup).await.expect("send StartupMessage");
    let mut header = [0u8; 9];
    socket.read_exact(&mut header).await.expect("authentication answer");
    assert_eq!(header[0], b'R', "an Authentication message");
    assert_eq!(&header[5..9], &[0, 0, 0, 0], "AuthenticationOk: no users, so trust");
}

#[tokio::test]
async fn idle_connections_are_closed_with_57p05() {
    let (server, _data) = TestServer::spawn_args(&["--pg-idle-timeout", "300ms"]).await;
    server.write_ok("demo", DATA).await;
    let conn_str = format!("host=127.0.0.1 port={} user=tester dbname=demo", server.pg_port);
    let (client, connection) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await.expect("connect");
    let connection = tokio::spawn(connection);
    let rows = client.query("SELECT count(*) FROM cpu", &[]).await.expect("a query before the timeout");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    // The connection task ends when the server says goodbye; it must say why.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), connection)
        .await
        .expect("the idle connection is closed within 10 s")
        .expect("connection task");
    let e = ended.expect_err("closed with an error");
    assert_eq!(e.code().map(|c| c.code()), Some("57P05"), "{e}");
    assert!(client.is_closed());
}

#[tokio::test]
async fn row_descriptions_name_the_table_column_as_pg_class_and_pg_attribute_do() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    let statement = client.prepare("SELECT host, usage AS u, 1 AS one FROM cpu").await.expect("Parse");
    let catalog = client
        .query(
            "SELECT c.oid, a.attname, a.attnum FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid WHERE c.relname = 'cpu'",
            &[],
        )
        .await
        .expect("catalog lookup");
    let attnum = |name: &str| -> (u32, i16) {
        let row = catalog.iter().find(|r| r.get::<_, &str>(1) == name).expect("column in pg_attribute");
        (row.get::<_, u32>(0), row.get(2))
    };
    let columns = statement.columns();
    let (oid, host) = attnum("host");
    assert_eq!((columns[0].table_oid(), columns[0].column_id()), (Some(oid), Some(host)), "host");
    assert_eq!((columns[1].table_oid(), columns[1].column_id()), (Some(oid), Some(attnum("usage").1)), "usage AS u");
    assert_eq!((columns[2].table_oid(), columns[2].column_id()), (None, None), "a computed column has no table");
}

#[tokio::test]
async fn untyped_and_declared_array_parameters_work_with_any() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let client = server.pg("demo").await;
    // No declared type: the server answers text[] for `= ANY($1)`, as Postgres infers.
    let statement = client.prepare("SELECT host FROM cpu WHERE host = ANY($1) ORDER BY host").await.expect("Parse");
    assert_eq!(statement.params(), [tokio_postgres::types::Type::TEXT_ARRAY]);
    let rows = client.query(&statement, &[&vec!["b", "zz"]]).await.expect("Execute");
    assert_eq!(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["b"]);
    // A declared int8[] is cast as declared.
    let statement = client
        .prepare_typed(
            "SELECT host FROM cpu WHERE n = ANY($1) ORDER BY host",
            &[tokio_postgres::types::Type::INT8_ARRAY],
        )
        .await
        .expect("Parse with a declared type");
    let rows = client.query(&statement, &[&vec![3i64, 4]]).await.expect("Execute");
    assert_eq!(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["a", "b"]);
}

/// pgcli refreshes its completions in one background pass with no error
/// handling: one failing catalog query and it completes nothing at all.
#[tokio::test]
async fn pgcli_completion_refresh_learns_tables_columns_and_functions() {
    let (server, _data) = TestServer::spawn().await;
    server.write_ok("demo", DATA).await;
    let script = r#"
import sys
from pgcli.pgexecute import PGExecute
from pgcli.completion_refresher import CompletionRefresher
from pgspecial.main import PGSpecial
e = PGExecute(database="demo", user="tester", password="", host="127.0.0.1", port=int(sys.argv[1]), dsn=None)
done = []
CompletionRefresher()._bg_refresh(e, PGSpecial(), [done.append], settings={"single_connection": True})
c = done[0]
print(",".join(sorted(c.dbmetadata["tables"]["public"].keys())))
# pgcli quotes names it holds to be keywords (`"host"`); the names are what matter.
print(",".join(sorted(col.strip('"') for col in c.dbmetadata["tables"]["public"]["cpu"].keys())))
print(sum(len(v) for v in c.dbmetadata["functions"].values()) > 100)
"#;
    let output = tokio::process::Command::new("python3")
        .args(["-c", script, &server.pg_port.to_string()])
        .output()
        .await
        .expect("python3 runs (.ci/run installs pgcli)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "pgcli refresh failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["cpu", "host,n,region,time,usage", "True"]);
}
