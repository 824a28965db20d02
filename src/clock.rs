//! Wall-clock time, injectable: actions, the token cache and the cloud resolvers ask
//! [`crate::context::Context::now`], never the system directly, so tests can pin or move time.

use crate::settings::Settings;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(test)]
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time in seconds.
pub trait Clock {
    fn now(&self) -> u64;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The clock a process runs on: the machine's, moved in a debug build by
/// `BETA9_TEST_CLOCK_SHIFT_MS` (docs/fleet.md, "Testing the windows"). A malformed shift is
/// refused by `Env::validate` before anything runs; here it counts as none.
pub(crate) fn for_process(settings: &Settings) -> Box<dyn Clock> {
    #[cfg(debug_assertions)]
    if let Some(shift_ms) = settings.test_clock_shift_ms() {
        return Box::new(ShiftedClock { shift_ms });
    }
    let _ = settings;
    Box::new(SystemClock)
}

/// A clock tests set and move by hand. Clones share one time, so a test keeps a handle while the
/// context owns another.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub(crate) struct ManualClock(Arc<AtomicU64>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn at(unix: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(unix)))
    }

    pub(crate) fn set(&self, unix: u64) {
        self.0.store(unix, Ordering::SeqCst);
    }

    pub(crate) fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The machine's clock moved by a fixed number of milliseconds (either way): the clock of a debug
/// build run with `BETA9_TEST_CLOCK_SHIFT_MS`, so a test moves a fleet's `get`s through a refresh
/// window without waiting for it. Debug builds only: a release build has neither this type nor
/// the variable (docs/fleet.md, "Testing the windows").
#[cfg(debug_assertions)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShiftedClock {
    pub shift_ms: i64,
}

#[cfg(debug_assertions)]
impl Clock for ShiftedClock {
    fn now(&self) -> u64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        (ms.saturating_add(self.shift_ms).max(0) / 1000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_handles_share_one_time() {
        let a = ManualClock::at(100);
        let b = a.clone();
        b.advance(5);
        assert_eq!(a.now(), 105);
        a.set(7);
        assert_eq!(b.now(), 7);
        assert!(SystemClock.now() > 1_700_000_000);
    }

    #[test]
    fn a_shifted_clock_moves_both_ways_by_milliseconds() {
        let real = SystemClock.now();
        let ahead = ShiftedClock { shift_ms: 10_500 }.now();
        let behind = ShiftedClock { shift_ms: -21_000 }.now();
        let now = SystemClock.now();
        assert!((real + 10..=now + 11).contains(&ahead), "{real} {ahead}");
        assert!((real - 21..=now - 21).contains(&behind), "{real} {behind}");
        assert_eq!(ShiftedClock { shift_ms: i64::MIN }.now(), 0);
    }
}
