//! How long entries live: the `--expires-in` flag of `add` and `import` (docs/storage.md,
//! "Entry lifecycle").

/// `--expires-in`: a positive number with a unit, `90s`, `15m`, `2h`, `7d`, in the grammar of the
/// shared store's duration settings; a bare number (seconds or minutes?) is refused as ambiguous.
pub fn duration_arg(s: &str) -> Result<u64, String> {
    let with_unit = s.trim_end().ends_with(['s', 'm', 'h', 'd']);
    match crate::store::cached::parse_duration(s) {
        Some(secs) if with_unit && secs > 0 => Ok(secs),
        _ => Err("expected a positive number with s, m, h or d (90s, 15m, 2h, 7d)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_positive_number() {
        assert_eq!(duration_arg("90s"), Ok(90));
        assert_eq!(duration_arg("15m"), Ok(900));
        assert_eq!(duration_arg("2h"), Ok(7200));
        assert_eq!(duration_arg("7d"), Ok(604_800));
        for bad in [
            "",
            "90",
            "0s",
            "-5m",
            "1.5h",
            "2w",
            "h",
            "99999999999999999999d",
            "soon",
        ] {
            assert!(duration_arg(bad).is_err(), "{bad}");
        }
    }
}
