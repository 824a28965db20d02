//! Google Artifact Registry and GCR: `oauth2accesstoken` + an access token.

use crate::actions::Context;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::secret::Login;
use secrecy::ExposeSecret;

pub const USERNAME: &str = "oauth2accesstoken";

/// A stored `GCP_ACCESS_TOKEN`, refused when its stored expiry (`GCP_ACCESS_TOKEN_EXPIRY`, RFC 3339
/// or Unix seconds) has passed: docker would otherwise get a dead token and a confusing 401.
pub fn resolve(ctx: &Context, record: &Record) -> Result<Login> {
    let c = &record.credentials;
    let Some(token) = c.get("GCP_ACCESS_TOKEN") else {
        return Err(Error::Unsupported {
            registry: record.registry.to_string(),
            detail: "this gcp record has no GCP_ACCESS_TOKEN, and token minting is not in this build".into(),
        });
    };
    if let Some(expiry) = c.get("GCP_ACCESS_TOKEN_EXPIRY") {
        let at = parse_expiry(expiry.expose_secret()).ok_or_else(|| Error::BadRecord {
            entry: record.registry.secret_name().to_string(),
            reason: "GCP_ACCESS_TOKEN_EXPIRY is neither RFC 3339 nor Unix seconds".into(),
        })?;
        if at <= ctx.now_unix() {
            return Err(Error::Expired {
                registry: record.registry.to_string(),
                detail: format!(
                    "the stored GCP_ACCESS_TOKEN expired {} s ago; store a fresh one (gcloud auth print-access-token)",
                    ctx.now_unix() - at
                ),
            });
        }
    }
    Ok(Login::new(USERNAME, token))
}

/// Unix seconds, or an RFC 3339 UTC/offset timestamp such as `2026-11-24T10:00:00Z`.
pub fn parse_expiry(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    parse_rfc3339(s)
}

fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = rest.get(1..3)?.parse::<i64>().ok()?;
            let om = rest.get(4..6)?.parse::<i64>().ok()?;
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let t = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(t).ok()
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_expiry("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_expiry("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_expiry("2023-11-14T22:13:20.123456Z"), Some(1_700_000_000));
        assert_eq!(parse_expiry("2023-11-15T00:13:20+02:00"), Some(1_700_000_000));
        assert_eq!(parse_expiry("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_expiry("tomorrow"), None);
        assert_eq!(parse_expiry("2023-13-01T00:00:00Z"), None);
    }
}
