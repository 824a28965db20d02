//! One way to write a duration: every error line's seconds and every humanised span come from
//! `src/duration.rs` (`secs`, `human`), so a budget reads `10 s` or `0.5 s` and a span `2 h 5 min`
//! wherever they appear (docs/configuration.md, "Durations").

use std::path::{Path, PathBuf};

/// What a second formatter or humaniser looks like in the source.
const PATTERNS: &[&str] = &[
    "fn secs(",
    "fn fmt_secs(",
    "fn ago(",
    "fn human(",
    "{:.1} s",
    "{s:.1}",
    "} h window",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `path:line: text` of each line matching a pattern, outside `src/duration.rs`.
fn formatters(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut hits = Vec::new();
    for f in files {
        if f.ends_with("src/duration.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if PATTERNS.iter().any(|p| line.contains(p)) {
                hits.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn durations_are_formatted_in_one_place() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let hits = formatters(&root);
    assert!(
        hits.is_empty(),
        "use crate::duration::{{secs, human}}:\n{}",
        hits.join("\n")
    );
    // The scanner is not blind: duration.rs itself has both.
    let own = std::fs::read_to_string(root.join("src/duration.rs")).unwrap();
    assert!(own.contains("fn secs(") && own.contains("fn human("));
}

#[test]
fn the_scanner_finds_a_second_formatter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/x")).unwrap();
    std::fs::write(dir.path().join("src/duration.rs"), "fn secs() {}\n").unwrap();
    std::fs::write(
        dir.path().join("src/x/y.rs"),
        "fn a() {}\nfn ago(s: u64) -> String { todo!() }\n",
    )
    .unwrap();
    let hits = formatters(dir.path());
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        hits[0].ends_with("y.rs:2: fn ago(s: u64) -> String { todo!() }"),
        "{hits:?}"
    );
}
