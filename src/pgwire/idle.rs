//! `--pg-idle-timeout`: a connection that waits between statements for longer
//! is closed with FATAL 57P05, as Postgres's `idle_session_timeout` does, so
//! connections leaked by pools and scripts do not pile up.
//!
//! pgwire owns the socket and its message loop, so idleness is tracked from
//! our side: every statement holds a [`Busy`] guard from the moment it arrives
//! until its last row is sent (a row stream keeps its own guard). The
//! connection's task races pgwire's loop against [`expired`]; when the timer
//! wins, pgwire is not in the middle of a message, and the farewell is written
//! on a duplicate of the socket before it is shut.

use std::io::Write as _;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::pgwire::error::ErrorInfo;
use ::pgwire::messages::Message as _;
use ::pgwire::messages::response::ErrorResponse;
use bytes::BytesMut;
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Activity {
    busy: AtomicUsize,
    last: Mutex<Instant>,
    /// TLS is inside pgwire's stream; nothing may be written around it.
    secure: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self { busy: AtomicUsize::new(0), last: Mutex::new(Instant::now()), secure: AtomicBool::new(false) }
    }

    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    pub(crate) fn set_secure(&self, secure: bool) {
        self.secure.store(secure, Ordering::SeqCst);
    }

    /// How long the connection has waited for its client, or `None` while a statement runs.
    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(last.elapsed())
    }
}

/// Held while a statement is being answered.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves once the connection has been idle for `timeout`.
pub(crate) async fn expired(activity: &Activity, timeout: Duration) {
    loop {
        let wait = match activity.idle_for() {
            Some(idle) if idle >= timeout => return,
            Some(idle) => timeout - idle,
            // Check again after a full period; a statement that ends restarts the count.
            None => timeout,
        };
        tokio::time::sleep(wait).await;
    }
}

/// Says why in plain-text connections, then closes both directions.
pub(crate) fn close(socket: &std::net::TcpStream, activity: &Activity) {
    if !activity.secure.load(Ordering::SeqCst) {
        let info = ErrorInfo::new(
            "FATAL".to_owned(),
            "57P05".to_owned(),
            "terminating connection due to idle-session timeout".to_owned(),
        );
        let mut buf = BytesMut::new();
        if ErrorResponse::from(info).encode(&mut buf).is_ok() {
            // A few dozen bytes into an idle socket's empty send buffer; if even that
            // would block, the client is gone and the shutdown below is all it gets.
            let mut socket = socket;
            let _ = socket.write(&buf);
        }
    }
    let _ = socket.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_time_between_statements_counts() {
        let activity = Arc::new(Activity::new());
        let busy = activity.begin();
        assert_eq!(activity.idle_for(), None, "a running statement is not idle");
        drop(busy);
        let idle = activity.idle_for().expect("idle once the statement ended");
        assert!(idle < Duration::from_secs(1), "the count restarts when a statement ends: {idle:?}");
        let expired = tokio::time::timeout(Duration::from_secs(5), expired(&activity, Duration::from_millis(50)));
        assert!(expired.await.is_ok(), "a 50 ms timeout fires on an idle connection");
    }
}
