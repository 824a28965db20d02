//! Durations: the one grammar for reading them (settings and command-line flags) and the one way
//! of writing them (seconds in an error line, a humanised age or span in a note).

use std::time::Duration;

/// Whole seconds, rounded up: a fraction never turns a setting into `0` ("off").
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The one duration grammar (settings and command-line durations): a non-negative number of
/// seconds (bare or with `s`; a decimal fraction allowed), or a whole number of `m`, `h` or `d`.
/// `"90"`, `"0.5"`, `"2.5s"`, `" 15m "`, `"7d"`. Anything else (a sign, an exponent, `inf`,
/// `1.5h`) is `None`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = match raw.char_indices().last()? {
        (i, 's') => (&raw[..i], 1.0),
        (i, 'm') => (&raw[..i], 60.0),
        (i, 'h') => (&raw[..i], 3600.0),
        (i, 'd') => (&raw[..i], 86400.0),
        _ => (raw, 1.0),
    };
    let num = num.trim();
    let digits = num.bytes().filter(u8::is_ascii_digit).count();
    let dots = num.bytes().filter(|b| *b == b'.').count();
    // A fraction only of seconds (a timeout of `0.5`): `1.5h` is written `90m`.
    let max_dots = usize::from(unit == 1.0);
    if digits == 0 || dots > max_dots || digits + dots != num.len() {
        return None;
    }
    let secs = num.parse::<f64>().ok()? * unit;
    Duration::try_from_secs_f64(secs).ok()
}

/// Seconds as an error line gives a budget: `10`, `0.5`, `2.5` (one decimal, only when needed).
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", d.as_secs())
    } else {
        format!("{s:.1}")
    }
}

/// A span for people: `90 s`, `15 min`, `2 h`, `2 h 5 min`, `3 d` (whole units, rounded down).
pub(crate) fn human(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86400 => match s % 3600 / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        s => format!("{} d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_duration_grammar() {
        let secs = |raw| parse_duration(raw).map(|d| d.as_secs_f64());
        assert_eq!(secs("60"), Some(60.0));
        assert_eq!(secs("0"), Some(0.0));
        assert_eq!(secs(" 0.5 "), Some(0.5));
        assert_eq!(secs("24h"), Some(86400.0));
        assert_eq!(secs("90s"), Some(90.0));
        assert_eq!(secs("7d"), Some(7.0 * 86400.0));
        assert_eq!(secs("5m"), Some(300.0));
        assert_eq!(secs("2.5s"), Some(2.5));
        for bad in [
            "", "-1", "h", "1.5h", "0.5m", "soon", "ten", "NaN", "inf", "1e3", "+5", "1..2", ".",
            "5 x", "1e400",
        ] {
            assert_eq!(secs(bad), None, "{bad}");
        }
        assert_eq!(
            parse_duration(&"9".repeat(400)),
            None,
            "too long for a Duration"
        );
    }

    #[test]
    fn seconds_show_a_decimal_only_when_needed() {
        assert_eq!(secs(Duration::from_secs(10)), "10");
        assert_eq!(secs(Duration::from_millis(500)), "0.5");
        assert_eq!(secs(Duration::from_millis(2250)), "2.2");
        assert_eq!(secs(Duration::ZERO), "0");
    }

    #[test]
    fn spans_for_people() {
        assert_eq!(human(0), "0 s");
        assert_eq!(human(119), "119 s");
        assert_eq!(human(120), "2 min");
        assert_eq!(human(7199), "119 min");
        assert_eq!(human(7200), "2 h");
        assert_eq!(human(7500), "2 h 5 min");
        assert_eq!(human(6 * 3600), "6 h");
        assert_eq!(human(86400), "24 h");
        assert_eq!(human(2 * 86400 - 1), "47 h 59 min");
        assert_eq!(human(2 * 86400), "2 d");
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(5)), 5);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
