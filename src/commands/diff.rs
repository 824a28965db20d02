//! A unified diff for `configure-docker --dry-run`, with credential values masked: a docker
//! config's `auths` can hold base64 passwords and tokens next to the lines that change.
//!
//! Masking works on the parsed document, never on lines of text: each side is walked as JSON
//! (keys decoded, so `"\u0061uth"` is `auth`; a value on the line after its key is still that
//! key's value) and every secret-bearing value is replaced before the two sides are compared.

use super::entries::MASK;

/// Member names whose values are never printed, wherever they sit (compared decoded and without
/// regard to case: Go's decoder matches them so).
const SECRET_NAMES: [&str; 8] = [
    "auth",
    "password",
    "identitytoken",
    "registrytoken",
    "secret",
    "token",
    "accesstoken",
    "refreshtoken",
];
/// Members of an `auths` entry that may be shown; every other one is masked.
const AUTHS_SHOWN: [&str; 3] = ["username", "email", "serveraddress"];
const CONTEXT: usize = 3;
/// Past this many lines per side the LCS table would be large; show a whole-file replacement.
const MAX_LINES: usize = 4000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// [`unified`] of both documents with every secret-bearing value masked (see [`mask_document`]).
pub(crate) fn unified_masked(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    unified(&mask_document(old), &mask_document(new), old_name, new_name)
}

/// `--- old_name` / `+++ new_name` and `@@` hunks with three lines of context; empty if equal.
pub(crate) fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
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
            out.push_str(line);
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

/// The document's text with every secret-bearing value replaced by `"********"`: `auths`
/// entries' members (all but username, email and serveraddress), every `HttpHeaders` value,
/// `proxies` values that carry user info, and any member whose decoded name is a secret's
/// (`auth`, `password`, `identitytoken`, `registrytoken`, `token`, ...), wherever it sits and
/// whatever its type. Text that is not JSON is not shown at all.
pub(crate) fn mask_document(text: &str) -> String {
    if text.trim().is_empty() {
        return text.to_string();
    }
    let mut w = Walker {
        b: text.as_bytes(),
        i: 0,
        spans: Vec::new(),
    };
    let mut path = Vec::new();
    w.ws();
    if w.value(&mut path).is_none() {
        return "(not shown: the file is not JSON)\n".into();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in w.spans {
        out.push_str(&text[at..start]);
        out.push('"');
        out.push_str(MASK);
        out.push('"');
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// Is the value at `path` (decoded member names, lower case; `[]` for array items) a secret?
fn secret_at(path: &[String], value: &[u8]) -> bool {
    let Some(last) = path.last() else {
        return false;
    };
    if SECRET_NAMES.contains(&last.as_str()) {
        return true;
    }
    match path.first().map(String::as_str) {
        Some("auths") => {
            path.len() >= 3 && !(path.len() == 3 && AUTHS_SHOWN.contains(&last.as_str()))
        }
        Some("httpheaders") => path.len() >= 2,
        // `http://user:password@proxy:3128`: a string with user info.
        Some("proxies") => value.first() == Some(&b'"') && value.contains(&b'@'),
        _ => false,
    }
}

/// A JSON walker over text already known to parse: records the byte spans of secret values.
struct Walker<'a> {
    b: &'a [u8],
    i: usize,
    spans: Vec<(usize, usize)>,
}

impl Walker<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// One value at `path`; `None` if the text is not JSON after all.
    fn value(&mut self, path: &mut Vec<String>) -> Option<()> {
        let start = self.i;
        match self.peek()? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let ks = self.i;
                        self.string()?;
                        let key: String = serde_json::from_slice(&self.b[ks..self.i]).ok()?;
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        self.ws();
                        path.push(key.to_ascii_lowercase());
                        self.value(path)?;
                        path.pop();
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        path.push("[]".into());
                        self.value(path)?;
                        path.pop();
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            }
            b'"' => self.string()?,
            _ => {
                // A number, true, false or null.
                while self.i < self.b.len()
                    && !matches!(
                        self.b[self.i],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        if secret_at(path, &self.b[start..self.i]) {
            // An enclosing secret covers any span recorded inside it.
            self.spans.retain(|(s, _)| *s < start);
            self.spans.push((start, self.i));
        }
        Some(())
    }

    fn string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
        None
    }
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
    fn secrets_are_masked_from_the_parsed_document_not_by_line() {
        let doc = "{\n\t\"auths\": {\n\t\t\"r.example\": {\n\t\t\t\"auth\":\n\t\t\t\t\"NEXTLINE\",\n\t\t\t\"\\u0061uth\": \"ESCAPED\",\n\t\t\t\"Password\": \"UPPER\",\n\t\t\t\"email\": \"me@example.com\",\n\t\t\t\"identitytoken\": {\"nested\": \"OBJ\"}\n\t\t}\n\t},\n\t\"HttpHeaders\": {\"Authorization\": \"Bearer HEADER\"},\n\t\"proxies\": {\"default\": {\"httpProxy\": \"http://u:PROXYPW@proxy:3128\", \"noProxy\": \"localhost\"}},\n\t\"x\": {\"token\": 123456},\n\t\"credHelpers\": {\"ghcr.io\": \"beta9\"}\n}\n";
        serde_json::from_str::<serde_json::Value>(doc).unwrap();
        let m = mask_document(doc);
        for secret in [
            "NEXTLINE", "ESCAPED", "UPPER", "HEADER", "PROXYPW", "OBJ", "123456",
        ] {
            assert!(!m.contains(secret), "{secret} shown: {m}");
        }
        for kept in [
            "me@example.com",
            "\"localhost\"",
            "\"ghcr.io\": \"beta9\"",
            "\"r.example\"",
        ] {
            assert!(m.contains(kept), "{kept} hidden: {m}");
        }
        // Still JSON, same line count for the unchanged layout.
        serde_json::from_str::<serde_json::Value>(&m).unwrap();
        assert_eq!(m.lines().count(), doc.lines().count());
        let d = unified_masked(
            doc,
            &doc.replace("beta9\"}", "beta9\", \"nvcr.io\": \"beta9\"}"),
            "a",
            "b",
        );
        assert!(!d.contains("NEXTLINE") && d.contains("nvcr.io"), "{d}");
        assert_eq!(
            mask_document("{\"auths\": "),
            "(not shown: the file is not JSON)\n"
        );
    }
}
