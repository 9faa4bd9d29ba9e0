//! `ServerConfig`: the raw CLI arguments resolved once into typed, validated
//! settings. Nothing else reads flags or the environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ServeArgs, StoreArgs};
use crate::pgwire::auth::AuthMethod;

/// Where the object store is.
#[derive(Clone)]
pub enum StoreConfig {
    Local(PathBuf),
    Memory,
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        allow_http: bool,
    },
}

impl fmt::Debug for StoreConfig {
    // Secrets never reach the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "file://{}", p.display()),
            Self::Memory => f.write_str("memory://"),
            Self::S3 { bucket, prefix, endpoint, region, access_key_id, secret_access_key, allow_http } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("prefix", prefix)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &secret_access_key.as_ref().map(|_| "<redacted>"))
                .field("allow_http", allow_http)
                .finish(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub store: StoreConfig,
    pub http_bind: SocketAddr,
    pub pg_bind: SocketAddr,
    pub addr_file: Option<PathBuf>,
    pub wal_flush_interval: Duration,
    pub wal_ignore_corrupt: bool,
    pub persist_interval: Duration,
    pub persist_threshold: usize,
    pub max_buffer_size: usize,
    pub max_request_size: usize,
    pub query_memory_limit: usize,
    pub last_cache_size: usize,
    pub parquet_cache_size: u64,
    pub pg_auth_method: AuthMethod,
    /// Certificate chain and key, both PEM.
    pub pg_tls: Option<(PathBuf, PathBuf)>,
    pub pg_idle_timeout: Option<Duration>,
    pub insecure_no_auth: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--object-store {0:?}: {1}")]
    ObjectStore(String, &'static str),
    #[error("{flag} {value:?} is not a socket address (like 127.0.0.1:8086)")]
    Bind { flag: &'static str, value: String },
    #[error("the SEDIMENT_* environment: {0}")]
    Environment(String),
    #[error("--data-dir {0}: {1}")]
    DataDir(String, std::io::Error),
}

impl ServerConfig {
    /// The defaults of `sediment serve` over `store`, for embedding a node
    /// without a command line (the sqllogictest runner).
    ///
    /// # Errors
    /// A `SEDIMENT_*` environment variable holds a value that cannot work.
    pub fn embedded(store: StoreConfig) -> Result<Self, ConfigError> {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(["sediment", "serve", "--object-store", "memory://"])
            .map_err(|e| ConfigError::Environment(e.to_string()))?;
        let crate::cli::Command::Serve(args) = cli.command else {
            return Err(ConfigError::Environment("`serve` parsed as another command".to_owned()));
        };
        Ok(Self { store, ..Self::from_args(&args)? })
    }

    /// # Errors
    /// A flag whose value cannot work.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let store = StoreConfig::from_args(&args.store)?;
        let bind = |flag, value: &str| value.parse().map_err(|_| ConfigError::Bind { flag, value: value.to_owned() });
        let size = |s: bytesize::ByteSize| usize::try_from(s.as_u64()).unwrap_or(usize::MAX);
        Ok(Self {
            store,
            http_bind: bind("--http-bind", &args.listen.http_bind)?,
            pg_bind: bind("--pg-bind", &args.listen.pg_bind)?,
            addr_file: args.listen.addr_file.clone(),
            wal_flush_interval: args.wal.wal_flush_interval.into(),
            wal_ignore_corrupt: args.wal.wal_ignore_corrupt,
            persist_interval: args.buffer.persist_interval.into(),
            persist_threshold: size(args.buffer.persist_threshold),
            max_buffer_size: size(args.buffer.max_buffer_size),
            max_request_size: size(args.buffer.max_request_size),
            query_memory_limit: size(args.query.query_memory_limit),
            last_cache_size: size(args.query.last_cache_size),
            parquet_cache_size: args.query.parquet_cache_size.as_u64(),
            pg_auth_method: args.auth.pg_auth_method,
            pg_tls: args.listen.pg_tls_cert.clone().zip(args.listen.pg_tls_key.clone()),
            pg_idle_timeout: Some(args.listen.pg_idle_timeout.into()).filter(|t: &Duration| !t.is_zero()),
            insecure_no_auth: args.auth.insecure_no_auth,
        })
    }
}

fn local(dir: &std::path::Path) -> Result<StoreConfig, ConfigError> {
    std::fs::create_dir_all(dir).map_err(|e| ConfigError::DataDir(dir.display().to_string(), e))?;
    let dir = dir.canonicalize().map_err(|e| ConfigError::DataDir(dir.display().to_string(), e))?;
    Ok(StoreConfig::Local(dir))
}

impl StoreConfig {
    /// # Errors
    /// An object-store URL or data directory that cannot work.
    pub fn from_args(args: &StoreArgs) -> Result<Self, ConfigError> {
        match &args.object_store {
            None => local(&args.data_dir),
            Some(url) => parse_store_url(url, args),
        }
    }
}

fn parse_store_url(url: &str, args: &StoreArgs) -> Result<StoreConfig, ConfigError> {
    let bad = |why| ConfigError::ObjectStore(url.to_owned(), why);
    if url == "memory://" || url == "memory" {
        return Ok(StoreConfig::Memory);
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("file URLs need an absolute path, like file:///var/lib/sediment"));
        }
        return local(std::path::Path::new(path));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("s3 URLs need a bucket, like s3://bucket/prefix"));
        }
        let s = args;
        return Ok(StoreConfig::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: s.s3_endpoint.clone(),
            region: s.s3_region.clone(),
            access_key_id: s.s3_access_key_id.clone(),
            secret_access_key: s.s3_secret_access_key.clone(),
            allow_http: s.s3_allow_http,
        });
    }
    Err(bad("use file:///abs/path, s3://bucket/prefix or memory://"))
}
