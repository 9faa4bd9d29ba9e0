//! Runs every `tests/slt/<area>/<topic>.slt` twice, as two tests: in this
//! process against a node whose loads are persisted to Parquet, and over the
//! Postgres wire against the real binary. Each file gets a fresh database.
//!
//! `cargo test --test sqllogictests -- --complete [filter]` rewrites the
//! expected output of the matching files from the in-process engine; review
//! the diff before committing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqllogictest::harness::{Arguments, Failed, Trial};
use sqllogictest::{Runner, default_normalizer, default_validator, strict_column_validator};

#[path = "slt_runner/engines.rs"]
mod engines;
#[allow(dead_code)]
#[path = "e2e/server.rs"]
mod server;
#[path = "slt_runner/values.rs"]
mod values;

use engines::{InProcess, Wire};

fn slt_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

fn slt_files() -> Vec<PathBuf> {
    let pattern = format!("{}/**/*.slt", slt_root().display());
    let mut files: Vec<PathBuf> =
        sqllogictest::harness::glob(&pattern).expect("glob pattern").filter_map(Result::ok).collect();
    files.sort();
    files
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn in_process_runner(
    node: &Arc<sediment::server::Node>,
) -> Runner<InProcess, impl sqllogictest::MakeConnection<Conn = InProcess>> {
    let node = Arc::clone(node);
    let mut runner = Runner::new(move || {
        let node = Arc::clone(&node);
        async move { InProcess::connect(node) }
    });
    runner.with_column_validator(strict_column_validator);
    runner
}

async fn run_in_process(path: PathBuf) -> Result<(), Failed> {
    let node = engines::in_process_node().await.map_err(|e| e.to_string())?;
    let mut runner = in_process_runner(&node);
    let result = runner.run_file_async(&path).await;
    runner.shutdown_async().await;
    result.map_err(|e| Failed::from(e.display(false).to_string()))
}

/// A runner whose connections go to a freshly started server (stopped when
/// the runner is dropped) with the file's database created.
async fn wire_runner() -> Result<Runner<Wire, impl sqllogictest::MakeConnection<Conn = Wire>>, String> {
    let (server, data) = server::TestServer::spawn().await;
    let created = server.post(&format!("/query?q=CREATE+DATABASE+{}", engines::DB), "").await;
    if !created.status().is_success() {
        return Err(format!("CREATE DATABASE answered {}", created.status()));
    }
    let server = Arc::new((server, data));
    let mut runner = Runner::new(move || Wire::connect(Arc::clone(&server)));
    runner.with_column_validator(strict_column_validator);
    Ok(runner)
}

async fn run_wire(path: PathBuf) -> Result<(), Failed> {
    let mut runner = wire_runner().await?;
    let result = runner.run_file_async(&path).await;
    runner.shutdown_async().await;
    result.map_err(|e| Failed::from(e.display(false).to_string()))
}

/// Rewrites from the wire engine: it runs every record, session statements included.
async fn complete(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut runner = wire_runner().await?;
    runner.update_test_file(path, " ", default_validator, default_normalizer, strict_column_validator).await?;
    runner.shutdown_async().await;
    Ok(())
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let completing = args.iter().any(|a| a == "--complete");
    args.retain(|a| a != "--complete");
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files under {}", slt_root().display());

    if completing {
        let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned().unwrap_or_default();
        for path in files.iter().filter(|p| p.to_string_lossy().contains(&filter)) {
            println!("completing {}", path.display());
            if let Err(e) = runtime().block_on(complete(path)) {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
        return;
    }

    let mut trials = Vec::new();
    for path in files {
        let name = path.strip_prefix(slt_root()).unwrap_or(&path).display().to_string();
        let in_process = path.clone();
        trials.push(Trial::test(format!("in_process::{name}"), move || runtime().block_on(run_in_process(in_process))));
        trials.push(Trial::test(format!("pgwire::{name}"), move || runtime().block_on(run_wire(path))));
    }
    sqllogictest::harness::run(&Arguments::from_iter(args), trials).exit();
}
