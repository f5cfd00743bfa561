//! Waiting in tests for what happens in the background (a sync, a mode change, a server
//! coming up, a checkpoint written): check, pause briefly, check again, until it holds or
//! the time is up — instead of a fixed sleep, too short on a loaded machine and wasted on
//! an idle one. The one helper every test of the workspace uses for this.
//!
//! A check answers `Option<T>` (`None`: not yet) or `Result<T, E>` (`Err`: not yet, and
//! why — the last reason is in the panic message when the time is up).

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// The pause between two checks.
const INTERVAL: Duration = Duration::from_millis(20);

/// What a check answers: ready with a `T`, or not yet (with the reason, if there is one).
pub trait Ready<T> {
    fn ready(self) -> Result<T, String>;
}

impl<T> Ready<T> for Option<T> {
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}

impl<T, E: Debug> Ready<T> for Result<T, E> {
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// Calls `check` until it is ready, for at most `timeout`; then panics naming `what` and
/// the last answer. Blocking: for synchronous tests (or inside `spawn_blocking`).
#[track_caller]
pub fn poll_until<T, R: Ready<T>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> R,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().ready() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        std::thread::sleep(INTERVAL);
    }
}

/// [`poll_until`] for async tests: `check` returns a future, and the pauses do not block
/// the runtime.
pub async fn poll_until_async<T, R, F>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> T
where
    R: Ready<T>,
    F: Future<Output = R>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await.ready() {
            Ok(value) => return value,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_ready_value() {
        let mut calls = 0;
        let value = poll_until("the third call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(value, 3);
    }

    #[test]
    #[should_panic(expected = "waiting for a mode that never comes; last: \"standby\"")]
    fn names_what_and_the_last_answer_when_the_time_is_up() {
        poll_until("a mode that never comes", Duration::from_millis(50), || {
            Err::<(), _>("standby")
        });
    }

    #[tokio::test]
    async fn async_checks_are_awaited() {
        let mut calls = 0;
        let value = poll_until_async("the second call", Duration::from_secs(5), || {
            calls += 1;
            let ready = calls == 2;
            async move { ready.then_some("done") }
        })
        .await;
        assert_eq!(value, "done");
    }
}
