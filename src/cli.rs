//! Command-line interface: clap types only. Every flag has a `SEDIMENT_*`
//! environment variable; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::pgwire::auth::AuthMethod;

#[derive(Debug, Parser)]
#[command(name = "sediment", version, about = "A time-series database on Parquet and object storage")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage the users who may log in over the Postgres protocol.
    User(Box<UserArgs>),
}

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user, or set the password of an existing one. The password is read
    /// from SEDIMENT_USER_PASSWORD, or else asked for on the terminal without echo.
    Create {
        /// The user name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a user.
    Drop {
        /// The user name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub wal: WalArgs,
    #[command(flatten)]
    pub buffer: BufferArgs,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Log filter, in tracing's EnvFilter syntax (e.g. `info,sediment=debug`).
    #[arg(long, env = "SEDIMENT_LOG_FILTER", default_value = "info")]
    pub log_filter: String,
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Where all state lives: `file:///abs/path`, `s3://bucket/prefix` or `memory://`.
    /// Overrides --data-dir.
    #[arg(long, env = "SEDIMENT_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// Local directory for all state (shortcut for a file:// object store).
    #[arg(long, env = "SEDIMENT_DATA_DIR", default_value = "./sediment-data")]
    pub data_dir: PathBuf,
    /// S3 endpoint URL, for S3-compatible servers (e.g. `http://127.0.0.1:9000`).
    #[arg(long, env = "SEDIMENT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "SEDIMENT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(long, env = "SEDIMENT_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "SEDIMENT_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allow plain-HTTP S3 endpoints.
    #[arg(long, env = "SEDIMENT_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
}

#[derive(Debug, Args)]
pub struct WalArgs {
    /// How long a group commit waits to gather more writes before its sync (0s: sync at once;
    /// writes that arrive during a sync still share the next one).
    #[arg(long, env = "SEDIMENT_WAL_FLUSH_INTERVAL", default_value = "0s")]
    pub wal_flush_interval: humantime::Duration,
    /// Skip WAL files that fail their checksum at start instead of refusing to start.
    /// Their writes are lost.
    #[arg(long, env = "SEDIMENT_WAL_IGNORE_CORRUPT")]
    pub wal_ignore_corrupt: bool,
}

#[derive(Debug, Args)]
pub struct BufferArgs {
    /// How often buffered data is persisted as Parquet.
    #[arg(long, env = "SEDIMENT_PERSIST_INTERVAL", default_value = "60s")]
    pub persist_interval: humantime::Duration,
    /// Buffered size that starts a persist before the interval is up.
    #[arg(long, env = "SEDIMENT_PERSIST_THRESHOLD", default_value = "256MiB")]
    pub persist_threshold: bytesize::ByteSize,
    /// Buffered size past which writes are refused with 503 until persistence catches up.
    #[arg(long, env = "SEDIMENT_MAX_BUFFER_SIZE", default_value = "1GiB")]
    pub max_buffer_size: bytesize::ByteSize,
    /// Largest accepted write or query body (after gzip decoding).
    #[arg(long, env = "SEDIMENT_MAX_REQUEST_SIZE", default_value = "32MiB")]
    pub max_request_size: bytesize::ByteSize,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Memory all running queries may use together.
    #[arg(long, env = "SEDIMENT_QUERY_MEMORY_LIMIT", default_value = "1GiB")]
    pub query_memory_limit: bytesize::ByteSize,
    /// Memory for the newest point of every series of the tables whose current values
    /// are queried (filled on the first such query per table); 0 turns it off.
    #[arg(long, env = "SEDIMENT_LAST_CACHE_SIZE", default_value = "64MiB")]
    pub last_cache_size: bytesize::ByteSize,
    /// Memory for the bytes of recently read Parquet files, so repeated queries of the
    /// same partitions do not go to object storage; 0 turns it off.
    #[arg(long, env = "SEDIMENT_PARQUET_CACHE_SIZE", default_value = "512MiB")]
    pub parquet_cache_size: bytesize::ByteSize,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// How Postgres clients prove their password once users exist (`sediment user create`).
    /// With no users every login is trusted.
    #[arg(long, env = "SEDIMENT_PG_AUTH_METHOD", value_enum, default_value_t = AuthMethod::ScramSha256)]
    pub pg_auth_method: AuthMethod,
    /// Start on a non-loopback address even though no users exist, so anyone who can
    /// reach the server can read every database.
    #[arg(long, env = "SEDIMENT_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// HTTP address (InfluxDB write and query APIs). Port 0 picks a free port.
    #[arg(long, env = "SEDIMENT_HTTP_BIND", default_value = "127.0.0.1:8086")]
    pub http_bind: String,
    /// PostgreSQL wire protocol address. Port 0 picks a free port.
    #[arg(long, env = "SEDIMENT_PG_BIND", default_value = "127.0.0.1:5433")]
    pub pg_bind: String,
    /// PEM certificate chain for Postgres TLS (with --pg-tls-key). Without it, clients
    /// asking for TLS are told no and may continue in plain text.
    #[arg(long, env = "SEDIMENT_PG_TLS_CERT", requires = "pg_tls_key")]
    pub pg_tls_cert: Option<PathBuf>,
    /// PEM private key for Postgres TLS (with --pg-tls-cert).
    #[arg(long, env = "SEDIMENT_PG_TLS_KEY", requires = "pg_tls_cert")]
    pub pg_tls_key: Option<PathBuf>,
    /// Close Postgres connections that wait this long between statements, with FATAL 57P05
    /// as Postgres's idle_session_timeout does (0s: never).
    #[arg(long, env = "SEDIMENT_PG_IDLE_TIMEOUT", default_value = "0s")]
    pub pg_idle_timeout: humantime::Duration,
    /// After binding, write the bound addresses here as JSON `{"http": .., "pg": ..}`.
    #[arg(long, env = "SEDIMENT_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
}

/// Runs the parsed command line.
///
/// # Errors
/// Anything that stops the command; `main` prints it and exits non-zero.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            crate::telemetry::init(&args.log_filter);
            let config = crate::config::ServerConfig::from_args(&args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(crate::server::serve(config))?;
            Ok(())
        }
        Command::User(args) => {
            crate::telemetry::init("warn");
            let (UserAction::Create { store, .. } | UserAction::Drop { store, .. }) = &args.action;
            let store = crate::config::StoreConfig::from_args(store)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let op = match &args.action {
                UserAction::Create { name, .. } => {
                    let password = match std::env::var("SEDIMENT_USER_PASSWORD") {
                        Ok(p) => p,
                        Err(_) => rpassword::prompt_password(format!("password for {name}: "))?,
                    };
                    anyhow::ensure!(!password.is_empty(), "the password must not be empty");
                    sediment_catalog::CatalogOp::SetUser { user: crate::pgwire::auth::user_secret(name, &password) }
                }
                UserAction::Drop { name, .. } => sediment_catalog::CatalogOp::DropUser { name: name.clone() },
            };
            runtime.block_on(crate::server::change_catalog(&store, op))?;
            match &args.action {
                UserAction::Create { name, .. } => println!("user {name} saved"),
                UserAction::Drop { name, .. } => println!("user {name} dropped"),
            }
            Ok(())
        }
    }
}
