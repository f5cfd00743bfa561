//! Shared state handed to every handler. Cheap to clone: everything inside is shared.

use std::sync::Arc;

use tokio::sync::watch;

use crate::health::NodeStatus;
use crate::metrics::HttpMetrics;

/// What handlers may reach: the node status, the request metrics and the pages (which own the audited viewer and the account services).
#[derive(Clone)]
pub struct AppState {
    /// Mode and snapshot status, fed by whoever owns them (mode store, sync).
    pub status: watch::Receiver<NodeStatus>,
    /// Request counters exported on the metrics listener.
    pub metrics: Arc<HttpMetrics>,
    /// Routes that exist only for tests of the node itself.
    #[cfg(feature = "test-hooks")]
    pub test_hooks: TestHooks,
    /// The viewer's pages (clinician, admin); absent on a node that serves status only.
    pub pages: Option<crate::pages::Pages>,
}

/// Switches for test-only behaviour (only in builds with the `test-hooks` feature). All off
/// unless a test turns them on.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// Mounts `GET /_test/slow?ms=N`, which answers after N milliseconds (at most 60 s).
    /// Used to prove that graceful shutdown drains in-flight requests.
    pub slow_route: bool,
}

impl AppState {
    pub fn new(status: watch::Receiver<NodeStatus>, metrics: Arc<HttpMetrics>) -> Self {
        AppState {
            status,
            metrics,
            #[cfg(feature = "test-hooks")]
            test_hooks: TestHooks::default(),
            pages: None,
        }
    }

    /// Mounts the viewer's pages.
    pub fn with_pages(mut self, pages: crate::pages::Pages) -> Self {
        self.pages = Some(pages);
        self
    }

    /// A state with the initial status and fresh metrics; the sender feeds new status values.
    pub fn for_tests() -> (Self, watch::Sender<NodeStatus>) {
        let (tx, rx) = watch::channel(NodeStatus::starting());
        (AppState::new(rx, Arc::new(HttpMetrics::new())), tx)
    }
}
