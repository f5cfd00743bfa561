//! `GET /healthz`: liveness and operating status for monitoring. Reports version, mode,
//! snapshot status and alerts for administrators only; it must never carry patient data.
//! The answer is always 200 while the node runs; `status` is `"alert"` while any alert
//! stands (a quarantined sync, damaged snapshot data, the audit ledger's disk below its
//! reserve), else `"ok"`.

use akari_accounts::event::Mode;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// The node's status as shown to monitoring. Fed through a `tokio::sync::watch` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub mode: Mode,
    pub snapshot: SnapshotStatus,
    #[serde(default)]
    pub sync: SyncHealth,
    /// What administrators must look at (no patient data).
    #[serde(default)]
    pub alerts: Vec<NodeAlert>,
}

/// One standing alert: a stable `kind` for monitoring rules and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAlert {
    /// One of [`NodeAlert::KINDS`].
    pub kind: String,
    pub message: String,
}

impl NodeAlert {
    /// The newest syncs were quarantined (they would have lost much of the data).
    pub const SNAPSHOT_QUARANTINE: &'static str = "snapshot_quarantine";
    /// Stored snapshot data was found damaged (see the message for what is served).
    pub const SNAPSHOT_INTEGRITY: &'static str = "snapshot_integrity";
    /// The audit ledger's disk has less free space than its reserve: once full, no audit
    /// entry can be written and no patient data is shown.
    pub const LEDGER_DISK_LOW: &'static str = "ledger_disk_low";
    /// Every kind, for metrics that report each as 0 or 1.
    pub const KINDS: [&'static str; 3] = [
        Self::SNAPSHOT_QUARANTINE,
        Self::SNAPSHOT_INTEGRITY,
        Self::LEDGER_DISK_LOW,
    ];

    pub fn new(kind: &str, message: impl Into<String>) -> NodeAlert {
        NodeAlert {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

/// How the last sync went, for monitoring: data-free messages and counts only. A pull the
/// node refused is `refused` with the reasons; never "unreachable" when the source
/// answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncHealth {
    /// No sync has run since the node started (or no source is configured).
    #[default]
    NotRun,
    /// The last sync committed a generation; `warned` resources were kept with a
    /// data-quality warning (the sync report lists them).
    Ok { warned: u64 },
    /// The source answered, but the pull was refused (e.g. "sync refused: 9523 of 100000
    /// resources rejected (…)"): nothing of it was stored, the current generation stays.
    Refused { message: String },
    /// The last sync failed for another reason (the source did not answer, storage).
    Failed { message: String },
}

/// What the node knows about its patient snapshot. Counts and times only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SnapshotStatus {
    /// No complete generation exists yet: nothing can be shown to clinicians.
    None,
    /// A verified generation is current.
    Current {
        generation: u64,
        /// When the generation was completed, RFC 3339.
        completed_at: String,
    },
}

impl NodeStatus {
    /// Status of a node that has just started and has not been told otherwise.
    pub fn starting() -> Self {
        NodeStatus {
            mode: Mode::Standby,
            snapshot: SnapshotStatus::None,
            alerts: Vec::new(),
            sync: SyncHealth::NotRun,
        }
    }
}

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub mode: Mode,
    pub snapshot: SnapshotStatus,
    pub alerts: Vec<NodeAlert>,
    pub sync: SyncHealth,
}

pub(crate) async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let status = state.status.borrow().clone();
    Json(Health {
        status: if status.alerts.is_empty() {
            "ok"
        } else {
            "alert"
        }
        .to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        mode: status.mode,
        snapshot: status.snapshot,
        alerts: status.alerts,
        sync: status.sync,
    })
}

/// `GET /_test/slow?ms=N`: answers after N milliseconds (at most 60 s). Only in builds with
/// the `test-hooks` feature, and only mounted when [`crate::TestHooks::slow_route`] is on.
#[cfg(feature = "test-hooks")]
pub(crate) mod slow_route {
    use std::time::Duration;

    use axum::extract::Query;
    use serde::Deserialize;

    /// Longest delay the route accepts.
    const MAX: Duration = Duration::from_secs(60);

    #[derive(Deserialize)]
    pub(crate) struct SlowParams {
        ms: u64,
    }

    pub(crate) async fn slow(Query(params): Query<SlowParams>) -> &'static str {
        let delay = Duration::from_millis(params.ms).min(MAX);
        tokio::time::sleep(delay).await;
        "done\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router;
    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_health(state: AppState) -> serde_json::Value {
        let response = router(state)
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn healthz_reports_standby_and_no_snapshot_at_start() {
        let (state, _tx) = AppState::for_tests();
        let health = get_health(state).await;
        assert_eq!(health["status"], "ok");
        assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(health["mode"], "standby");
        assert_eq!(health["snapshot"]["state"], "none");
        assert_eq!(health["sync"]["state"], "not_run");
    }

    #[tokio::test]
    async fn healthz_follows_status_updates() {
        let (state, tx) = AppState::for_tests();
        tx.send(NodeStatus {
            mode: Mode::Drill,
            snapshot: SnapshotStatus::Current {
                generation: 7,
                completed_at: "2026-11-21T03:00:00Z".to_owned(),
            },
            alerts: Vec::new(),
            sync: SyncHealth::Refused {
                message: "sync refused: 30 of 100 resources rejected (invalid_json 30)".into(),
            },
        })
        .unwrap();
        let health = get_health(state.clone()).await;
        assert_eq!(health["status"], "ok");
        assert_eq!(health["mode"], "drill");
        assert_eq!(health["snapshot"]["state"], "current");
        assert_eq!(health["snapshot"]["generation"], 7);
        tx.send_modify(|s| {
            s.alerts.push(NodeAlert::new(
                NodeAlert::SNAPSHOT_QUARANTINE,
                "sync quarantined",
            ))
        });
        let health = get_health(state).await;
        assert_eq!(health["status"], "alert");
        assert_eq!(health["alerts"][0]["kind"], "snapshot_quarantine");
        assert_eq!(health["sync"]["state"], "refused");
        assert!(health["sync"]["message"]
            .as_str()
            .unwrap()
            .starts_with("sync refused: 30 of 100"));
    }
}
