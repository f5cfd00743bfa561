//! Where a full sync's time goes: wall time and the process's CPU time per phase of the
//! sorted load (pull, settle, owners, items, index, commit), logged at debug level under
//! the target `akari_sync::sorted_load` (no patient data: durations only). CPU time over
//! wall time is how many cores a phase kept busy.

use std::time::{Duration, Instant};

/// The process's user + system CPU time so far (Linux: `/proc/self/stat`; zero elsewhere).
pub(crate) fn process_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

/// The calling thread's user + system CPU time so far (Linux; zero elsewhere).
pub(crate) fn thread_cpu() -> Duration {
    cpu_of("/proc/thread-self/stat")
}

fn cpu_of(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the command name,
    // in clock ticks (100 a second on Linux).
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A phase clock: each [`PhaseClock::lap`] logs the wall and CPU time since the last.
pub(crate) struct PhaseClock {
    wall: Instant,
    cpu: Duration,
}

impl PhaseClock {
    pub(crate) fn start() -> PhaseClock {
        PhaseClock {
            wall: Instant::now(),
            cpu: process_cpu(),
        }
    }

    /// Log the phase that just ended and start the next.
    pub(crate) fn lap(&mut self, phase: &'static str) {
        let (wall, cpu) = (Instant::now(), process_cpu());
        let (w, c) = (wall - self.wall, cpu.saturating_sub(self.cpu));
        tracing::debug!(
            target: "akari_sync::sorted_load",
            phase,
            wall_ms = w.as_millis() as u64,
            cpu_ms = c.as_millis() as u64,
            cores = format!("{:.2}", c.as_secs_f64() / w.as_secs_f64().max(1e-9)),
            "full sync phase"
        );
        self.wall = wall;
        self.cpu = cpu;
    }
}
