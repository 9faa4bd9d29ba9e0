//! Logging: one tracing subscriber, filtered by `--log-filter`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. A bad filter falls back to `info` and says so.
pub fn init(filter: &str) {
    let (filter, bad) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    if let Some(e) = bad {
        tracing::warn!(error = %e, "invalid --log-filter; using info");
    }
}
