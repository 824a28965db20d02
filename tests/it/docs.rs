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
    // The README's reference moved to docs/: its citations stay checked there.
    for page in [
        "commands",
        "registries",
        "troubleshooting",
        "how-it-works",
        "security",
        "configuration",
        "operations",
        "fleet-setup",
    ] {
        sources.push(root().join("docs").join(format!("{page}.md")));
    }
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

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of a markdown text outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push(line);
        }
    }
    out
}

/// The anchors a markdown text's headings get (a repeated heading gets `-1`, `-2`, ...).
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in prose(text) {
        if let Some(h) = line.strip_prefix('#') {
            let base = slug(h.trim_start_matches('#'));
            let n = out
                .iter()
                .filter(|a| **a == base || a.starts_with(&format!("{base}-")))
                .count();
            out.push(if n == 0 { base } else { format!("{base}-{n}") });
        }
    }
    out
}

/// Every relative link target `](path#anchor)` in a markdown text, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Broken links of one markdown file: a target that does not exist, or an anchor that no heading
/// of the target gives.
fn broken_links(file: &Path, text: &str, read: &dyn Fn(&Path) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for target in links(text) {
        let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
        let dest = if path.is_empty() {
            file.to_path_buf()
        } else {
            file.parent().unwrap().join(path)
        };
        let Some(dest_text) = read(&dest) else {
            out.push(format!("{}: {target}: no such file", file.display()));
            continue;
        };
        if !anchor.is_empty() && !anchors(&dest_text).iter().any(|a| a == anchor) {
            out.push(format!("{}: {target}: no such heading", file.display()));
        }
    }
    out
}

fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    for name in ["ARCHITECTURE.md"] {
        if root().join(name).exists() {
            out.push(root().join(name));
        }
    }
    for e in std::fs::read_dir(root().join("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            out.push(e.path());
        }
    }
    out
}

/// The README leads to docs/ and the pages link to each other and back: every relative link in
/// README.md and docs/*.md reaches a file, and its `#anchor` a heading there.
#[test]
fn every_markdown_link_and_anchor_resolves() {
    let read = |p: &Path| {
        if p.is_dir() {
            Some(String::new())
        } else {
            std::fs::read_to_string(p).ok()
        }
    };
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        checked += links(&text).len();
        broken.extend(broken_links(&file, &text, &read));
    }
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(checked >= 50, "only {checked} links found");
}

/// Positive control: a link to a missing heading or a missing page is reported, a link into a
/// code block is not a link, and anchors follow GitHub's rules.
#[test]
fn the_link_checker_reports_a_missing_anchor_and_page() {
    assert_eq!(
        slug(" Shared store (PostgreSQL)"),
        "shared-store-postgresql"
    );
    assert_eq!(
        slug("Worker: per-request credentials that expire"),
        "worker-per-request-credentials-that-expire"
    );
    assert_eq!(
        anchors("# T\n## A\n```sh\n# not a heading\n```\n## A\n"),
        ["t", "a", "a-1"]
    );
    let page = "## Here\n";
    let read = |p: &Path| p.ends_with("docs/page.md").then(|| page.to_string());
    let text = "[ok](page.md#here) [gone](page.md#there) [none](missing.md)\n\
                ```\n[code](missing.md)\n```\n[web](https://example.com/x.md)\n";
    let broken = broken_links(Path::new("/r/docs/README.md"), text, &read);
    assert_eq!(
        broken,
        [
            "/r/docs/README.md: page.md#there: no such heading",
            "/r/docs/README.md: missing.md: no such file"
        ]
    );
}

/// The README is a newcomer's path: it opens with the two set-up commands (CI runs the second),
/// keeps the paste-and-run sections other tests execute, says how to develop, and leads on to
/// docs/ pages that exist.
#[test]
fn the_readme_opens_with_the_set_up_commands_and_leads_to_the_reference() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let first = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    let commands: Vec<&str> = first
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["./install.sh", "./scripts/test.sh"], "{first}");
    let headings: Vec<&str> = prose(&readme)
        .into_iter()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    for h in [
        "Quick start",
        "Scripted use",
        "Worker images",
        "Kubernetes nodes",
        "Pre-warming tokens",
        "Troubleshooting",
        "Configuration",
        "Developing",
    ] {
        assert!(headings.contains(&h), "README lacks \"{h}\": {headings:?}");
    }
    for page in [
        "commands",
        "registries",
        "configuration",
        "troubleshooting",
        "operations",
        "fleet-setup",
        "security",
    ] {
        assert!(
            readme.contains(&format!("(docs/{page}.md")),
            "README does not link docs/{page}.md"
        );
    }
}
