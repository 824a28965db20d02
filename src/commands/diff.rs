//! A unified diff for `configure-docker --dry-run`, with credential values masked: a docker
//! config's `auths` can hold base64 passwords and tokens next to the lines that change.

use super::entries::MASK;

/// Keys whose string values are never printed (docker's `auths` entries, containers' auth.json).
const SENSITIVE: [&str; 6] = [
    "auth",
    "password",
    "identitytoken",
    "registrytoken",
    "secret",
    "token",
];
const CONTEXT: usize = 3;
/// Past this many lines per side the LCS table would be large; show a whole-file replacement.
const MAX_LINES: usize = 4000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// `--- old_name` / `+++ new_name` and `@@` hunks with three lines of context; empty if equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a == b {
        return String::new();
    }
    let script = edit_script(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Walk the script, tracking line numbers; emit hunks around changes.
    let changed: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| *op != Op::Keep)
        .map(|(i, _)| i)
        .collect();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let lo = i.saturating_sub(CONTEXT);
        let hi = (i + CONTEXT + 1).min(script.len());
        match groups.last_mut() {
            Some(g) if lo <= g.1 => g.1 = hi,
            _ => groups.push((lo, hi)),
        }
    }
    for (lo, hi) in groups {
        let (mut a_start, mut b_start) = (1, 1);
        for (op, _) in &script[..lo] {
            match op {
                Op::Keep => {
                    a_start += 1;
                    b_start += 1;
                }
                Op::Del => a_start += 1,
                Op::Add => b_start += 1,
            }
        }
        let a_len = script[lo..hi]
            .iter()
            .filter(|(op, _)| *op != Op::Add)
            .count();
        let b_len = script[lo..hi]
            .iter()
            .filter(|(op, _)| *op != Op::Del)
            .count();
        let a_from = if a_len == 0 { a_start - 1 } else { a_start };
        let b_from = if b_len == 0 { b_start - 1 } else { b_start };
        out.push_str(&format!("@@ -{a_from},{a_len} +{b_from},{b_len} @@\n"));
        for (op, line) in &script[lo..hi] {
            let sign = match op {
                Op::Keep => ' ',
                Op::Del => '-',
                Op::Add => '+',
            };
            out.push(sign);
            out.push_str(&mask_line(line));
            out.push('\n');
        }
    }
    out
}

/// Longest-common-subsequence edit script (files here are a few dozen lines).
fn edit_script<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        let mut s: Vec<(Op, &str)> = a.iter().map(|l| (Op::Del, *l)).collect();
        s.extend(b.iter().map(|l| (Op::Add, *l)));
        return s;
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut s = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            s.push((Op::Keep, a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            s.push((Op::Del, a[i]));
            i += 1;
        } else {
            s.push((Op::Add, b[j]));
            j += 1;
        }
    }
    s
}

/// Replaces the string value after any sensitive key on the line by the mask, wherever it sits
/// (one-line files put a whole `auths` object on one line).
pub fn mask_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut mask_next_string = false;
    while i < chars.len() {
        if chars[i] != '"' {
            if !chars[i].is_whitespace() && chars[i] != ':' {
                mask_next_string = false;
            }
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A JSON string token from i to its closing quote.
        let start = i;
        i += 1;
        while i < chars.len() && chars[i] != '"' {
            i += if chars[i] == '\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(chars.len());
        let token: String = chars[start..end].iter().collect();
        i = end;
        if mask_next_string {
            out.push('"');
            out.push_str(MASK);
            out.push('"');
            mask_next_string = false;
            continue;
        }
        out.push_str(&token);
        let rest = chars[i..]
            .iter()
            .skip_while(|c| c.is_whitespace())
            .copied()
            .next();
        if rest == Some(':') {
            let key = token.trim_matches('"').to_ascii_lowercase();
            mask_next_string = SENSITIVE.contains(&key.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_have_context_and_positions() {
        let old = "{\n\t\"a\": 1,\n\t\"b\": 2\n}\n";
        let new = "{\n\t\"a\": 1,\n\t\"b\": 2,\n\t\"credHelpers\": {}\n}\n";
        let d = unified(old, new, "config.json", "config.json (new)");
        assert_eq!(
            d,
            "--- config.json\n+++ config.json (new)\n@@ -1,4 +1,5 @@\n {\n \t\"a\": 1,\n-\t\"b\": 2\n+\t\"b\": 2,\n+\t\"credHelpers\": {}\n }\n"
        );
        assert_eq!(unified(old, old, "x", "y"), "");
    }

    #[test]
    fn secrets_in_context_lines_are_masked() {
        assert_eq!(
            mask_line("\t\t\t\"auth\": \"dXNlcjpTRUtSSVQ=\""),
            "\t\t\t\"auth\": \"********\""
        );
        let one_line = r#"{"auths":{"r":{"auth":"SEKRIT","identitytoken":"SEKRIT2"}},"x":"keep"}"#;
        let m = mask_line(one_line);
        assert!(!m.contains("SEKRIT"), "{m}");
        assert!(m.contains("\"keep\""), "{m}");
        assert_eq!(
            mask_line("\"ghcr.io\": \"beta9\""),
            "\"ghcr.io\": \"beta9\""
        );
        assert_eq!(
            mask_line(r#""password": "a\"b", "u": "v""#),
            r#""password": "********", "u": "v""#
        );
    }
}
