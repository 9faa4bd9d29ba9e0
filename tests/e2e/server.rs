//! `TestServer`: the real `sediment` binary on loopback ports chosen by the OS,
//! with a temporary data directory or a bucket on a local S3 server (moto).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where a test server keeps its state.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    Dir(PathBuf),
    S3 { endpoint: String, bucket: String, prefix: String },
}

#[derive(Debug)]
pub(crate) struct TestServer {
    child: Option<Child>,
    store: Store,
    extra: Vec<String>,
    addr_file: PathBuf,
    _scratch: tempfile::TempDir,
    pub(crate) http: String,
    pub(crate) pg_port: u16,
    client: reqwest::Client,
}

pub(crate) fn deadline(what: &str, seconds: u64) -> impl FnMut() {
    let end = Instant::now() + Duration::from_secs(seconds);
    let what = what.to_owned();
    move || assert!(Instant::now() < end, "timed out waiting for {what}")
}

impl TestServer {
    /// A server with a fresh temporary data directory.
    pub(crate) async fn spawn() -> (Self, tempfile::TempDir) {
        Self::spawn_args(&[]).await
    }

    pub(crate) async fn spawn_args(extra: &[&str]) -> (Self, tempfile::TempDir) {
        let data = tempfile::tempdir().expect("tempdir");
        let server = Self::start(Store::Dir(data.path().to_path_buf()), extra).await;
        (server, data)
    }

    pub(crate) async fn start(store: Store, extra: &[&str]) -> Self {
        let scratch = tempfile::tempdir().expect("tempdir");
        let mut server = Self {
            child: None,
            store,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            addr_file: scratch.path().join("addr.json"),
            _scratch: scratch,
            http: String::new(),
            pg_port: 0,
            client: reqwest::Client::new(),
        };
        server.launch().await;
        server
    }

    async fn launch(&mut self) {
        let _ = std::fs::remove_file(&self.addr_file);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sediment"));
        cmd.arg("serve")
            .args(["--http-bind", "127.0.0.1:0", "--pg-bind", "127.0.0.1:0"])
            .arg("--addr-file")
            .arg(&self.addr_file)
            .args(["--log-filter", "info"]);
        match &self.store {
            Store::Dir(dir) => {
                cmd.arg("--data-dir").arg(dir);
            }
            Store::S3 { endpoint, bucket, prefix } => {
                cmd.args(["--object-store", &format!("s3://{bucket}/{prefix}")])
                    .args(["--s3-endpoint", endpoint, "--s3-allow-http"])
                    .args(["--s3-access-key-id", "testing", "--s3-secret-access-key", "testing"]);
            }
        }
        cmd.args(&self.extra).env_remove("SEDIMENT_LOG_FILTER");
        if std::env::var_os("TEST_LOG").is_none() {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let mut child = cmd.spawn().expect("sediment binary starts");
        let mut wait = deadline("the server's address file", 60);
        let addrs: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&self.addr_file)
                && let Ok(v) = serde_json::from_str(&text)
            {
                break v;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sediment exited during start: {status}");
            }
            wait();
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.http = format!("http://{}", addrs["http"].as_str().expect("http address"));
        let pg: std::net::SocketAddr = addrs["pg"].as_str().expect("pg address").parse().expect("socket address");
        self.pg_port = pg.port();
        self.child = Some(child);
        let mut wait = deadline("/health", 30);
        while !matches!(self.client.get(format!("{}/health", self.http)).send().await, Ok(r) if r.status() == 200) {
            wait();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no chance to flush or persist anything.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns whether it exited successfully.
    pub(crate) fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > end {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) async fn restart(&mut self) {
        self.kill9();
        self.launch().await;
    }

    /// A clean stop (which persists the buffer to Parquet, without compacting) and a start.
    pub(crate) async fn restart_clean(&mut self) {
        assert!(self.terminate(), "clean stop");
        self.start_again().await;
    }

    pub(crate) async fn start_again(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.launch().await;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    pub(crate) async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client.post(self.url(path)).body(body).send().await.expect("request sent")
    }

    /// `CREATE DATABASE db` over `/query` (1.x's `/write` needs the database to exist).
    pub(crate) async fn create_database(&self, db: &str) {
        let r = self.client.post(self.url("/query")).form(&[("q", format!("CREATE DATABASE \"{db}\""))]).send().await;
        let r = r.expect("request sent");
        assert_eq!(r.status(), 200, "CREATE DATABASE {db}: {}", r.text().await.unwrap_or_default());
    }

    /// Runs InfluxQL through `POST /query` (times in seconds), expects 200 and
    /// returns the whole 1.x JSON body.
    pub(crate) async fn influxql(&self, db: &str, q: &str) -> Value {
        let r = self.client.post(self.url("/query")).form(&[("db", db), ("q", q), ("epoch", "s")]).send().await;
        let r = r.expect("request sent");
        assert_eq!(r.status(), 200, "{q}");
        r.json().await.expect("JSON body")
    }

    /// Writes line protocol to `/write?db=` with second precision and expects 204.
    pub(crate) async fn write_ok(&self, db: &str, lp: &str) {
        self.create_database(db).await;
        let r = self.post(&format!("/write?db={db}&precision=s"), lp.to_owned()).await;
        let status = r.status();
        assert_eq!(status, 204, "write failed: {}", r.text().await.unwrap_or_default());
    }

    pub(crate) async fn sql_response(&self, db: &str, q: &str, format: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v3/query_sql"))
            .query(&[("db", db), ("q", q), ("format", format)])
            .send()
            .await
            .expect("request sent")
    }

    /// Runs a SQL query over HTTP and returns its rows as JSON objects.
    pub(crate) async fn sql(&self, db: &str, q: &str) -> Vec<Value> {
        let r = self.sql_response(db, q, "json").await;
        let status = r.status();
        let text = r.text().await.expect("body");
        assert_eq!(status, 200, "query {q:?} failed: {text}");
        serde_json::from_str::<Vec<Value>>(&text).expect("JSON rows")
    }

    pub(crate) async fn count(&self, db: &str, table: &str) -> i64 {
        let rows = self.sql(db, &format!("SELECT count(*) AS n FROM {table}")).await;
        rows[0]["n"].as_i64().expect("count")
    }

    pub(crate) async fn pg(&self, db: &str) -> tokio_postgres::Client {
        self.pg_result(db).await.expect("pg connects")
    }

    pub(crate) async fn pg_result(&self, db: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let conn_str = format!("host=127.0.0.1 port={} user=tester dbname={db}", self.pg_port);
        let (client, connection) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Waits until `system.parquet_files` lists at least `n` files of `table`.
    pub(crate) async fn wait_for_files(&self, db: &str, table: &str, n: i64) {
        let mut wait = deadline("persisted Parquet files", 60);
        loop {
            let rows = self
                .sql(db, &format!("SELECT count(*) AS n FROM system.parquet_files WHERE table_name = '{table}'"))
                .await;
            if rows[0]["n"].as_i64().unwrap_or(0) >= n {
                return;
            }
            wait();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// WAL files left in a data directory.
pub(crate) fn wal_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("wal"))
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "wal")).collect()
        })
        .unwrap_or_default()
}

/// Every Parquet file below a data directory.
pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

/// A moto S3 server on a free loopback port, stopped on drop.
#[derive(Debug)]
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (pip install 'moto[server]')");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let mut wait = deadline("moto", 30);
        while client.get(&endpoint).send().await.is_err() {
            wait();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, endpoint }
    }

    pub(crate) async fn create_bucket(&self, bucket: &str) {
        let r = reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.expect("bucket request");
        assert!(r.status().is_success(), "bucket not created: {}", r.status());
    }

    /// Keys in a bucket under a prefix.
    pub(crate) async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let r = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2&prefix={prefix}", self.endpoint))
            .send()
            .await
            .expect("list request");
        let text = r.text().await.expect("list body");
        text.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_owned).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
