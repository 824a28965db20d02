//! The one time budget for a network exchange: `BETA9_TIMEOUT` seconds (fractions allowed),
//! default 10. A `get` that has to mint a token answers within this bound, retry included, so
//! docker, skopeo or a kubelet pull never hang on an unreachable endpoint.

use crate::env::{self, Env};
use std::time::{Duration, Instant};

/// When `BETA9_TIMEOUT` is unset.
pub const DEFAULT: Duration = Duration::from_secs(10);
/// Upper clamp: a larger value is almost certainly a typo (milliseconds), and docker waits on us.
pub const MAX: Duration = Duration::from_secs(600);

/// The budget from `BETA9_TIMEOUT`, and a note for stderr when the value is not a positive number
/// of seconds: then the default is used, as a typo must not turn a pull into a hang or an instant
/// failure.
pub fn budget(env: &Env) -> (Duration, Option<String>) {
    let Some(raw) = env.get(env::TIMEOUT) else {
        return (DEFAULT, None);
    };
    match parse(raw) {
        Some(d) => (d, None),
        None => (
            DEFAULT,
            Some(format!(
                "{} is not a positive number of seconds; using {} s",
                env::TIMEOUT,
                DEFAULT.as_secs()
            )),
        ),
    }
}

/// `"2"`, `"0.5"`, `" 30 "` → that many seconds, clamped to [`MAX`]; anything else → `None`.
pub fn parse(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.trim().parse().ok()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(MAX.as_secs_f64())))
}

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

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }
}

/// Seconds, or a number with `s`, `m`, `h` or `d` (the copy, last-use and `--every` durations).
pub fn parse_duration(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (num, unit) = match raw.char_indices().last()? {
        (i, 's') => (&raw[..i], 1),
        (i, 'm') => (&raw[..i], 60),
        (i, 'h') => (&raw[..i], 3600),
        (i, 'd') => (&raw[..i], 86400),
        _ => (raw, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_values() {
        assert_eq!(parse("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse("100000"), Some(MAX));
        for bad in ["0", "-1", "ten", "", "NaN", "inf"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn unset_or_bad_timeout_is_the_default() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(budget(&env(&[])), (DEFAULT, None));
        assert_eq!(
            budget(&env(&[(env::TIMEOUT, "3")])),
            (Duration::from_secs(3), None)
        );
        let (d, note) = budget(&env(&[(env::TIMEOUT, "soon")]));
        assert_eq!(d, DEFAULT);
        assert!(note.unwrap().contains("BETA9_TIMEOUT"));
    }
}
