//! Wiring: object store, catalog, WAL replay, buffer, persister, engine,
//! listeners, and the shutdown order.
//!
//! ```text
//! start:    store ─▶ catalog.load ─▶ WAL replay into buffer ─▶ WAL commit loop ─▶ persister ─▶ listeners
//! shutdown: stop listeners ─▶ drain WAL queue ─▶ persist everything ─▶ exit (no WAL left to replay)
//! ```

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use sediment_catalog::{Catalog, CatalogError};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{ServerConfig, StoreConfig};
use crate::http::{AppState, router};
use crate::ingest::{IngestLimits, Ingester};
use crate::query::{QueryConfig, QueryEngine, QueryError};
use crate::storage::buffer::WriteBuffer;
use crate::storage::persist::{PersistError, Persister};
use crate::storage::wal::{self, OnDurable, Wal, WalError, WalLocation};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("WAL replay: {0}")]
    Wal(#[from] WalError),
    #[error("query engine: {0}")]
    Query(#[from] QueryError),
    #[error("final persist: {0}")]
    Persist(#[from] PersistError),
    #[error("binding {what} on {addr}: {source}")]
    Bind { what: &'static str, addr: String, source: std::io::Error },
    #[error("writing the address file {path}: {source}")]
    AddrFile { path: String, source: std::io::Error },
    #[error(
        "refusing to listen on {addr} with no users: anyone who can reach it could read every database; \
         create a user with `sediment user create NAME`, bind to 127.0.0.1, or pass --insecure-no-auth"
    )]
    InsecureBind { addr: String },
    #[error("Postgres TLS: {0}")]
    Tls(#[from] crate::pgwire::tls::TlsError),
    #[error("WAL file {seq} holds writes to table {db}.{table}, which the catalog does not know")]
    WalAheadOfCatalog { seq: u64, db: String, table: String },
}

fn build_store(config: &StoreConfig) -> Result<(Arc<dyn ObjectStore>, WalLocation), ServerError> {
    Ok(match config {
        StoreConfig::Local(dir) => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir)?);
            (store, WalLocation::Local(dir.join(crate::storage::paths::WAL_DIR)))
        }
        StoreConfig::Memory => {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            (Arc::clone(&store), WalLocation::Store(store))
        }
        StoreConfig::S3 { bucket, prefix, endpoint, region, access_key_id, secret_access_key, allow_http } => {
            let mut builder =
                AmazonS3Builder::new().with_bucket_name(bucket).with_region(region).with_allow_http(*allow_http);
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(key) = access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            let s3: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
            let store: Arc<dyn ObjectStore> =
                if prefix.is_empty() { s3 } else { Arc::new(PrefixStore::new(s3, prefix.as_str())) };
            (Arc::clone(&store), WalLocation::Store(store))
        }
    })
}

/// Commits one catalog change against the store, for the CLI's offline
/// commands; a running server sees it on its next catalog refresh.
///
/// # Errors
/// The store cannot be reached or the change does not apply.
pub async fn change_catalog(config: &StoreConfig, op: sediment_catalog::CatalogOp) -> Result<(), ServerError> {
    let (store, _) = build_store(config)?;
    let catalog = Catalog::load(store).await?;
    catalog.apply(vec![op]).await?;
    Ok(())
}

/// Replays WAL files newer than what the catalog says is persisted. Returns the next file number.
async fn replay(
    location: &WalLocation,
    catalog: &Catalog,
    buffer: &WriteBuffer,
    ignore_corrupt: bool,
) -> Result<u64, ServerError> {
    let persisted = catalog.snapshot().wal_persisted_through;
    let mut next = persisted + 1;
    let mut replayed = 0usize;
    for seq in wal::list_seqs(location).await? {
        next = next.max(seq + 1);
        if seq <= persisted {
            continue;
        }
        let ops = match wal::read(location, seq).await {
            Ok(ops) => ops,
            Err(e @ WalError::Corrupt { .. }) if ignore_corrupt => {
                tracing::error!(seq, error = %e, "skipping corrupt WAL file as --wal-ignore-corrupt asks");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let snapshot = catalog.snapshot();
        for op in &ops {
            for point in &op.points {
                if snapshot.table(&op.db, point.measurement()).is_none() {
                    return Err(ServerError::WalAheadOfCatalog {
                        seq,
                        db: op.db.clone(),
                        table: point.measurement().to_owned(),
                    });
                }
            }
        }
        replayed += ops.iter().map(|o| o.points.len()).sum::<usize>();
        buffer.apply(seq, &ops);
    }
    tracing::info!(points = replayed, next_wal_file = next, "WAL replayed");
    Ok(next)
}

/// Everything but the listeners: a catalog, a WAL, a buffer, an ingester and
/// a query engine over one object store, with the background commit and
/// persist loops running. `serve` puts listeners in front of it; the
/// sqllogictest runner drives it in-process.
#[derive(Debug)]
pub struct Node {
    pub catalog: Arc<Catalog>,
    pub ingester: Arc<Ingester>,
    pub engine: Arc<QueryEngine>,
    persister: Arc<Persister>,
    persist_shutdown: CancellationToken,
    persist_task: tokio::task::JoinHandle<()>,
    wal_shutdown: CancellationToken,
    wal_task: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Loads the catalog, replays the WAL and starts the background loops.
    ///
    /// # Errors
    /// The store cannot be reached, the catalog does not load, the WAL does not replay.
    pub async fn open(config: &ServerConfig) -> Result<Self, ServerError> {
        let (store, wal_location) = build_store(&config.store)?;
        let catalog = Arc::new(Catalog::load(Arc::clone(&store)).await?);
        let buffer = Arc::new(WriteBuffer::new(config.last_cache_size));
        let next_seq = replay(&wal_location, &catalog, &buffer, config.wal_ignore_corrupt).await?;

        let wal_shutdown = CancellationToken::new();
        let applier = Arc::clone(&buffer);
        let on_durable: OnDurable = Arc::new(move |seq, ops| applier.apply(seq, ops));
        let (wal, wal_task) =
            Wal::start(wal_location, next_seq, config.wal_flush_interval, on_durable, wal_shutdown.clone());
        let persist_wanted = Arc::new(Notify::new());
        let persister =
            Arc::new(Persister::new(Arc::clone(&catalog), Arc::clone(&buffer), wal.clone(), Arc::clone(&store)));
        let limits = IngestLimits { persist_threshold: config.persist_threshold, max_buffer: config.max_buffer_size };
        let ingester = Arc::new(Ingester::new(
            Arc::clone(&catalog),
            wal,
            Arc::clone(&buffer),
            limits,
            Arc::clone(&persist_wanted),
        ));
        let query_config = QueryConfig {
            memory_limit: config.query_memory_limit,
            parquet_cache_size: config.parquet_cache_size,
            ..QueryConfig::default()
        };
        let engine = Arc::new(QueryEngine::try_new(Arc::clone(&catalog), buffer, store, query_config)?);

        let persist_shutdown = CancellationToken::new();
        let persist_task = tokio::spawn(persist_loop(
            Arc::clone(&persister),
            persist_wanted,
            config.persist_interval,
            persist_shutdown.clone(),
        ));
        Ok(Self { catalog, ingester, engine, persister, persist_shutdown, persist_task, wal_shutdown, wal_task })
    }

    /// Writes everything in the buffer to Parquet now.
    ///
    /// # Errors
    /// The files or the catalog change could not be written.
    pub async fn persist(&self) -> Result<(), ServerError> {
        Ok(self.persister.persist_all().await?)
    }

    /// Drains the WAL queue, stops the loops and persists the buffer, so no
    /// WAL is left to replay.
    ///
    /// # Errors
    /// The final persist failed; the WAL still holds the data.
    pub async fn close(self) -> Result<(), ServerError> {
        self.wal_shutdown.cancel();
        let _ = self.wal_task.await;
        self.persist_shutdown.cancel();
        let _ = self.persist_task.await;
        self.persister.persist_all().await?;
        Ok(())
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then persists everything and returns.
///
/// # Errors
/// Start-up failures (store, catalog, WAL replay, binding) and a failed final persist.
pub async fn serve(config: ServerConfig) -> Result<(), ServerError> {
    tracing::info!(?config, "starting sediment {}", env!("CARGO_PKG_VERSION"));
    // Bad TLS files stop the start before anything else happens.
    let tls = match &config.pg_tls {
        Some((cert, key)) => Some(crate::pgwire::tls::acceptor(cert, key)?),
        None => None,
    };
    let node = Node::open(&config).await?;
    if node.catalog.snapshot().users.is_empty() && !config.insecure_no_auth {
        for addr in [config.http_bind, config.pg_bind] {
            if !addr.ip().is_loopback() {
                return Err(ServerError::InsecureBind { addr: addr.to_string() });
            }
        }
    }
    let shutdown = CancellationToken::new();

    let http_listener = TcpListener::bind(config.http_bind).await.map_err(|source| ServerError::Bind {
        what: "HTTP",
        addr: config.http_bind.to_string(),
        source,
    })?;
    let pg_listener = TcpListener::bind(config.pg_bind).await.map_err(|source| ServerError::Bind {
        what: "Postgres",
        addr: config.pg_bind.to_string(),
        source,
    })?;
    let http_addr = http_listener.local_addr().map_err(|source| ServerError::Bind {
        what: "HTTP",
        addr: config.http_bind.to_string(),
        source,
    })?;
    let pg_addr = pg_listener.local_addr().map_err(|source| ServerError::Bind {
        what: "Postgres",
        addr: config.pg_bind.to_string(),
        source,
    })?;
    if let Some(path) = &config.addr_file {
        let body = serde_json::json!({ "http": http_addr.to_string(), "pg": pg_addr.to_string() }).to_string();
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| ServerError::AddrFile { path: path.display().to_string(), source })?;
    }
    tracing::info!(http = %http_addr, pg = %pg_addr, "listening");

    let app = router(AppState {
        ingester: Arc::clone(&node.ingester),
        engine: Arc::clone(&node.engine),
        persister: Arc::clone(&node.persister),
        max_request_size: config.max_request_size,
    });
    let http_shutdown = shutdown.clone();
    let http_task = tokio::spawn(async move {
        let served = axum::serve(http_listener, app).with_graceful_shutdown(http_shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    let pg_options =
        crate::pgwire::PgOptions { method: config.pg_auth_method, tls, idle_timeout: config.pg_idle_timeout };
    let pg_task = tokio::spawn(crate::pgwire::serve(
        pg_listener,
        Arc::clone(&node.engine),
        Arc::clone(&node.catalog),
        pg_options,
        shutdown.clone(),
    ));

    wait_for_signal().await;
    tracing::info!("shutting down: finishing requests, then persisting the buffer");
    shutdown.cancel();
    let _ = http_task.await;
    let _ = pg_task.await;
    node.close().await?;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn persist_loop(persister: Arc<Persister>, wanted: Arc<Notify>, interval: Duration, shutdown: CancellationToken) {
    if let Err(e) = persister.sweep_unreferenced().await {
        tracing::warn!(error = %e, "could not look for unreferenced Parquet objects");
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
            () = wanted.notified() => {}
        }
        if let Err(e) = persister.persist_all().await {
            tracing::warn!(error = %e, "persist failed; the data stays in the buffer and WAL and is retried");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Late writes leave a partition's files overlapping, and every query
        // of that partition deduplicating, until its files are merged.
        persister.compact().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
