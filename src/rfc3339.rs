//! RFC 3339 timestamps, in and out, with the AWS SDK's date-time type (compiled in anyway): `ls`
//! and `show` print times this way, and a stored `GCP_ACCESS_TOKEN_EXPIRY` may be written this way.

use aws_smithy_types::date_time::{DateTime, Format};

/// `2026-03-01T12:00:00Z` for a Unix time in seconds.
pub(crate) fn format(unix: u64) -> String {
    let t = DateTime::from_secs(i64::try_from(unix).unwrap_or(i64::MAX));
    t.fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("@{unix}"))
}

/// Unix seconds of an RFC 3339 timestamp (`Z` or a numeric offset, fractions dropped); `None`
/// for anything else or a time before 1970.
pub(crate) fn parse(s: &str) -> Option<u64> {
    let t = DateTime::from_str(s.trim(), Format::DateTimeWithOffset).ok()?;
    u64::try_from(t.secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20.123456Z"), Some(1_700_000_000));
        assert_eq!(parse("2023-11-15T00:13:20+02:00"), Some(1_700_000_000));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "tomorrow",
            "2023-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
