//! The crate's shape, checked: the module graph has no import cycles (file by file, `use` and path
//! references alike, parent and child included), so the layers the README's design notes draw
//! stay layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module path (`store::file`) → file, for every module file under src/ (lib.rs and main.rs are
/// the roots, not modules).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        out.insert(parts.join("::"), f);
    }
    out
}

/// Source without comments, string contents and the test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push('"');
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            // A char literal such as '"' must not open a string.
            '\'' => {
                out.push(c);
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\"'") || rest.starts_with("\\\"") {
                    for _ in 0..2 {
                        chars.next();
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        match t.find('{') {
            Some(i) if t.ends_with('}') => {
                let (head, body) = (&t[..i], &t[i + 1..t.len() - 1]);
                let (mut depth, mut start) = (0, 0);
                for (j, c) in body.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            go(&format!("{prefix}{head}"), &body[start..j], out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                if start < body.len() {
                    go(&format!("{prefix}{head}"), &body[start..], out);
                }
            }
            _ => out.push(format!("{prefix}{t}")),
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// The modules one module depends on.
fn deps(name: &str, text: &str, mods: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let here: Vec<&str> = name.split("::").collect();
    let parent = &here[..here.len() - 1];
    let resolve = |base: &[&str], segs: &[&str]| -> Option<String> {
        (1..=segs.len()).rev().find_map(|k| {
            let cand: Vec<&str> = base.iter().chain(&segs[..k]).copied().collect();
            let cand = cand.join("::");
            mods.contains_key(&cand).then_some(cand)
        })
    };
    let code = code(text);
    let children: BTreeSet<String> = code
        .split(';')
        .filter_map(|stmt| {
            let s = stmt.trim();
            let s = s.strip_prefix("pub ").unwrap_or(s);
            s.strip_prefix("mod ").map(|m| m.trim().to_string())
        })
        .filter(|m| m.chars().all(ident))
        .collect();
    let mut paths: Vec<String> = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim_start();
        let s = s.strip_prefix("pub ").unwrap_or(s);
        let s = s.strip_prefix("pub(crate) ").unwrap_or(s);
        if let Some(tree) = s.strip_prefix("use ") {
            paths.extend(expand(tree));
        }
    }
    // Inline paths: `crate::a::b`, `super::a`, `child::item`.
    let bytes: Vec<char> = code.chars().collect();
    for start in 0..bytes.len() {
        if start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == ':') {
            continue;
        }
        let rest: String = bytes[start..bytes.len().min(start + 200)].iter().collect();
        let path: String = rest
            .chars()
            .take_while(|c| ident(*c) || *c == ':')
            .collect();
        if path.contains("::") {
            paths.push(path);
        }
    }
    let mut out = BTreeSet::new();
    for p in paths {
        let segs: Vec<&str> = p
            .split("::")
            .filter(|s| !s.is_empty() && *s != "self")
            .map(|s| s.split(" as ").next().unwrap_or(s))
            .collect();
        let Some((first, rest)) = segs.split_first() else {
            continue;
        };
        let target = match *first {
            "crate" => resolve(&[], rest),
            "super" => resolve(parent, rest).or_else(|| Some(parent.join("::"))),
            c if children.contains(c) => resolve(&here, &segs),
            _ => None,
        };
        if let Some(t) = target.filter(|t| !t.is_empty() && t != name) {
            out.insert(t);
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    mods.iter()
        .map(|(name, file)| {
            let text = std::fs::read_to_string(file).unwrap();
            (name.clone(), deps(name, &text, &mods))
        })
        .collect()
}

#[test]
fn the_module_graph_has_no_cycles() {
    let g = graph();
    // The analysis sees the edges it must (a positive control): a broken scanner finds nothing.
    assert!(g["actions"].contains("resolve"), "{:?}", g["actions"]);
    assert!(g["resolve::ecr"].contains("resolve::ecr_sdk"));
    assert!(g["store::file"].contains("store"), "{:?}", g["store::file"]);
    assert!(g["commands"].contains("commands::add"));
    assert!(
        g["resolve::gcp_http"].contains("tls"),
        "{:?}",
        g["resolve::gcp_http"]
    );
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles: {found:?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    let mods: BTreeMap<String, PathBuf> = ["x", "x::y", "z"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    let d = deps(
        "x::y",
        "use super::{Thing, y2};\nuse crate::z::{self, W};\n// crate::nope\nlet s = \"crate::z\";",
        &mods,
    );
    assert_eq!(d, BTreeSet::from(["x".to_string(), "z".to_string()]));
}

/// The core never names the protocol's or clap's types: the edge adapts them.
#[test]
fn the_core_takes_no_protocol_or_clap_types() {
    let g = graph();
    for core in [
        "actions",
        "context",
        "credential_type",
        "record",
        "store",
        "token",
        "resolve",
    ] {
        for (m, deps) in &g {
            if m == core || m.starts_with(&format!("{core}::")) {
                assert!(
                    !deps.iter().any(|d| d == "cli" || d.starts_with("commands")),
                    "{m} depends on the edge: {deps:?}"
                );
            }
        }
    }
    let text = std::fs::read_to_string(src().join("credential_type.rs")).unwrap();
    assert!(
        !code(&text).contains("clap"),
        "CredentialType derives a clap trait"
    );
}
