//! The one time budget for a network exchange: `BETA9_TIMEOUT` (read by `settings`), default
//! 10 s. A `get` that has to mint a token answers within this bound, retry included, so docker,
//! skopeo or a kubelet pull never hang on an unreachable endpoint.

use std::time::{Duration, Instant};

/// When `BETA9_TIMEOUT` is unset.
pub const DEFAULT: Duration = Duration::from_secs(10);
/// Upper clamp: a larger value is almost certainly a typo (milliseconds), and docker waits on us.
pub(crate) const MAX: Duration = Duration::from_secs(600);

/// A budget that started running: what is left of it, for each attempt of a retried exchange.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub budget: Duration,
    end: Instant,
}

impl Deadline {
    pub fn start(budget: Duration) -> Deadline {
        Deadline {
            budget,
            end: Instant::now() + budget,
        }
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }
}
