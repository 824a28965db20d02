//! Every reference the code makes to docs/ resolves: the file exists and each quoted section is a
//! heading in it. A new engineer with only this repository can follow every citation.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "rs" || x == "sh" || x == "py")
        {
            out.push(p);
        }
    }
}

/// The file's text with comment continuations joined, so a citation wrapped over two comment
/// lines reads as one.
fn joined(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        let body = ["//!", "///", "//", "#"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        out.push_str(body.trim());
        out.push(' ');
    }
    out
}

/// `(file, [sections])` for each `docs/<file>.md` citation, with the quoted sections right after
/// it (`docs/x.md, "A"`, `docs/x.md ("A")`, `docs/x.md, "A" and "B"`).
fn citations(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("docs/") {
        rest = &rest[i + 5..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-' || *c == '_')
            .collect();
        if name.is_empty() || !rest[name.len()..].starts_with(".md") {
            continue;
        }
        let mut after = &rest[name.len() + 3..];
        let mut sections = Vec::new();
        loop {
            let t = after.trim_start_matches([',', ' ', '(', ';']);
            let t = t.strip_prefix("and ").unwrap_or(t);
            let Some(q) = t.strip_prefix('"') else { break };
            let Some(end) = q.find('"') else { break };
            sections.push(q[..end].to_string());
            after = &q[end + 1..];
        }
        out.push((format!("{name}.md"), sections));
    }
    out
}

#[test]
fn every_docs_citation_in_the_code_resolves() {
    let mut sources = Vec::new();
    for dir in ["src", "tests", "scripts", "packaging", "benches"] {
        if root().join(dir).exists() {
            files(&root().join(dir), &mut sources);
        }
    }
    sources.push(root().join("Cargo.toml"));
    sources.push(root().join("README.md"));
    sources.push(root().join("ARCHITECTURE.md"));
    let mut checked = 0;
    let mut missing = Vec::new();
    // This file's own examples are not citations.
    sources.retain(|p| !p.ends_with("tests/it/docs.rs"));
    for src in &sources {
        let text = joined(&std::fs::read_to_string(src).unwrap());
        for (file, sections) in citations(&text) {
            let Ok(doc) = std::fs::read_to_string(root().join("docs").join(&file)) else {
                missing.push(format!("{}: docs/{file} does not exist", src.display()));
                continue;
            };
            for s in sections {
                let heading = doc
                    .lines()
                    .any(|l| l.trim_start_matches('#').trim() == s && l.starts_with("##"));
                if !heading {
                    missing.push(format!(
                        "{}: docs/{file} has no section \"{s}\"",
                        src.display()
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    // The check itself must have found citations (a broken scanner would pass vacuously).
    assert!(checked >= 20, "only {checked} section citations found");
}

#[test]
fn the_scanner_reads_wrapped_and_paired_citations() {
    let text =
        joined("//! see (docs/records.md, \"Cloud records\" and \"Not found\n//! versus error\").");
    assert_eq!(
        citations(&text),
        vec![(
            "records.md".to_string(),
            vec![
                "Cloud records".to_string(),
                "Not found versus error".to_string()
            ]
        )]
    );
}

#[test]
fn nothing_cites_a_facts_sheet_outside_the_repository() {
    let mut sources = Vec::new();
    files(&root().join("src"), &mut sources);
    files(
        &root().join("docs").parent().unwrap().join("tests"),
        &mut sources,
    );
    for src in sources {
        let text = std::fs::read_to_string(&src).unwrap();
        // Built from parts so this file does not match itself.
        let needle = ["COMPAT", ".md"].concat();
        assert!(!text.contains(&needle), "{} cites {needle}", src.display());
    }
}
