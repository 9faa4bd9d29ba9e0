pub async fn serve(_l: tokio::net::TcpListener, _e: std::sync::Arc<crate::query::QueryEngine>, s: tokio_util::sync::CancellationToken) { s.cancelled().await }
