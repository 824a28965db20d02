//! The configuration table (docs/configuration.md) cannot drift from the code: every environment
//! variable `src/env.rs` declares (the one place the helper reads its environment) is in the
//! table, and every name in the table is one `src/env.rs` declares.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names `src/env.rs` may declare without a row, each with the reason. None today: every name the
/// helper reads is a setting someone may need to know about.
const EXEMPT: &[(&str, &str)] = &[];

/// The values of `const X: &str = "NAME";` declarations (any visibility, `cfg` or line breaks).
fn declared(env_rs: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = env_rs;
    while let Some(i) = rest.find("const ") {
        rest = &rest[i + "const ".len()..];
        let Some(end) = rest.find(';') else { break };
        let decl = &rest[..end];
        let Some((ty, value)) = decl.split_once('=') else {
            continue;
        };
        if ty.split_once(':').map(|(_, t)| t.trim()) != Some("&str") {
            continue;
        }
        let value = value.trim();
        if let Some(name) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            out.insert(name.to_string());
        }
    }
    out
}

/// The names in the first column of the table's rows; a cell that says "or lower case" names the
/// lower-case spellings too.
fn documented(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in doc.lines() {
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cell = row.split('|').next().unwrap_or("");
        let names: Vec<&str> = cell
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        for n in &names {
            out.insert(n.to_string());
            if cell.contains("or lower case") {
                out.insert(n.to_ascii_lowercase());
            }
        }
    }
    out
}

/// `(declared but not in the table, in the table but not declared)`, exemptions left out.
fn drift(declared: &BTreeSet<String>, documented: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let exempt: BTreeSet<&str> = EXEMPT.iter().map(|(n, _)| *n).collect();
    let undocumented = declared
        .iter()
        .filter(|n| !documented.contains(*n) && !exempt.contains(n.as_str()))
        .cloned()
        .collect();
    let unknown = documented
        .iter()
        .filter(|n| !declared.contains(*n))
        .cloned()
        .collect();
    (undocumented, unknown)
}

fn read(dir: &str, file: &str) -> String {
    let path = root().join(dir).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_configuration_table_lists_exactly_the_variables_env_rs_declares() {
    let declared = declared(&read("src", "env.rs"));
    let documented = documented(&read("docs", "configuration.md"));
    // A broken parser would pass vacuously.
    assert!(declared.len() >= 30, "{declared:?}");
    assert!(declared.contains("BETA9_STORE_URL") && declared.contains("no_proxy"));
    let (undocumented, unknown) = drift(&declared, &documented);
    assert!(
        undocumented.is_empty(),
        "src/env.rs reads these, docs/configuration.md does not list them: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/configuration.md lists these, src/env.rs does not declare them: {unknown:?}"
    );
    for (name, reason) in EXEMPT {
        assert!(
            declared.contains(*name),
            "exempt {name} ({reason}) is not declared"
        );
        assert!(!reason.is_empty());
    }
}

#[test]
fn the_checker_reports_a_missing_row_and_an_unknown_name() {
    let env_rs = "/// doc\npub const A: &str = \"BETA9_A\";\n#[cfg(debug_assertions)]\n\
                  pub(crate) const B: &str =\n    \"BETA9_B\";\nconst LIST: &[&str] = &[A];\n\
                  pub const PROXY: &str = \"X_PROXY\";\npub const PROXY_LOWER: &str = \"x_proxy\";\n";
    let declared = declared(env_rs);
    assert_eq!(
        declared.iter().map(String::as_str).collect::<Vec<_>>(),
        ["BETA9_A", "BETA9_B", "X_PROXY", "x_proxy"]
    );
    let table = "| variable | meaning |\n|---|---|\n| `BETA9_A` | a `thing` |\n\
                 | `X_PROXY` (or lower case) | proxy |\n| `BETA9_GONE` | removed |\n";
    let (undocumented, unknown) = drift(&declared, &documented(table));
    assert_eq!(undocumented, ["BETA9_B"]);
    assert_eq!(unknown, ["BETA9_GONE"]);
}

/// The settings' defaults, as the code has them, for the variables whose row states one.
fn settings_defaults() -> Vec<(&'static str, String)> {
    use docker_credential_beta9::{paths, settings, timeout};
    vec![
        ("BETA9_TIMEOUT", timeout::DEFAULT.as_secs().to_string()),
        (
            "BETA9_STORE_CACHE_TTL",
            settings::DEFAULT_STORE_CACHE_TTL.to_string(),
        ),
        (
            "BETA9_STORE_MAX_STALE",
            settings::DEFAULT_STORE_MAX_STALE.to_string(),
        ),
        (
            "BETA9_LAST_USE_INTERVAL",
            settings::DEFAULT_LAST_USE_INTERVAL.to_string(),
        ),
        ("BETA9_WORKSPACE", paths::DEFAULT_WORKSPACE.to_string()),
    ]
}

/// The default a row states (`default 60`, ``default `24h` ``), as seconds when it is a
/// duration, else as written; `None` when the row states none.
fn documented_default(doc: &str, name: &str) -> Option<String> {
    let row = doc
        .lines()
        .find(|l| l.starts_with(&format!("| `{name}` |")))?;
    let meaning = row.split('|').nth(2)?;
    let after = &meaning[meaning.find("default ")? + "default ".len()..];
    let value: String = after
        .trim_start_matches('`')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    match docker_credential_beta9::duration::parse_duration(&value) {
        Some(d) => Some(d.as_secs().to_string()),
        None => Some(value),
    }
}

/// `(variable, documented, in the code)` for each default the table and the settings disagree on.
fn default_drift(doc: &str, defaults: &[(&'static str, String)]) -> Vec<String> {
    defaults
        .iter()
        .filter_map(|(name, code)| match documented_default(doc, name) {
            Some(d) if d == *code => None,
            d => Some(format!("{name}: docs say {d:?}, the settings {code:?}")),
        })
        .collect()
}

#[test]
fn each_documented_default_is_the_settings_default() {
    let doc = read("docs", "configuration.md");
    let drift = default_drift(&doc, &settings_defaults());
    assert!(drift.is_empty(), "{}", drift.join("\n"));
}

#[test]
fn the_default_checker_reports_a_wrong_or_missing_default() {
    let doc =
        "| `BETA9_A` | seconds (default 60) |\n| `BETA9_B` | how long (default `24h`; `0` off) |\n\
               | `BETA9_C` | a name; default `default` |\n| `BETA9_D` | no default stated |\n";
    let code = |a: &str, b: &str, c: &str| {
        vec![
            ("BETA9_A", a.to_string()),
            ("BETA9_B", b.to_string()),
            ("BETA9_C", c.to_string()),
        ]
    };
    assert!(default_drift(doc, &code("60", "86400", "default")).is_empty());
    assert_eq!(default_drift(doc, &code("30", "86400", "default")).len(), 1);
    assert_eq!(default_drift(doc, &code("60", "3600", "x")).len(), 2);
    assert_eq!(
        default_drift(doc, &[("BETA9_D", "1".to_string())]).len(),
        1,
        "a default the docs do not state"
    );
}
