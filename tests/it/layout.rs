//! The crate's shape, checked: the module graph has no import cycles (file by file, `use` and path
//! references alike, parent and child included), so the layers the README's design notes draw
//! stay layers; and every import follows the layer table of ARCHITECTURE.md (which layer each
//! module is in, and what may never import what), so the diagram there is what is checked.

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
                // A line continuation keeps its line too.
                '\\' => {
                    if let Some('\n') = chars.next() {
                        out.push('\n');
                    }
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                // Lines are kept, so a finding's line number is the file's.
                '\n' => out.push('\n'),
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
            let s = s.strip_prefix("pub(crate) ").unwrap_or(s);
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
    assert!(g["resolve::ecr"].contains("resolve::ecr::sdk"));
    assert!(g["store::file"].contains("store"), "{:?}", g["store::file"]);
    assert!(g["commands"].contains("commands::add"));
    // An inline `crate::net::tls::…` path in an expression counts as an import.
    assert!(g["http"].contains("net::tls"), "{:?}", g["http"]);
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
    // A child declared crate-visible is a child all the same.
    let d = deps("x", "pub(crate) mod y;\nfn f() { y::g(); }", &mods);
    assert_eq!(d, BTreeSet::from(["x::y".to_string()]));
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

/// The layer table, the Never table and the known exceptions of ARCHITECTURE.md: the diagram is
/// the thing checked.
struct Rules {
    /// (module path, rank, layer name); a longer path's row wins.
    layers: Vec<(String, u32, String)>,
    /// (from, to): each covers the modules under it.
    never: Vec<(String, String)>,
    /// (from, to): `from` one module exactly, `to` the modules under it.
    exceptions: Vec<(String, String)>,
}

/// The rows of the first table after `## heading`, as cells (the header and rule left out).
fn md_table(md: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = md
        .lines()
        .skip_while(|l| l.trim() != format!("## {heading}"));
    assert!(
        lines.next().is_some(),
        "ARCHITECTURE.md has no \"## {heading}\""
    );
    lines
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The one backtick-quoted module path of a cell.
fn quoted(cell: &str) -> String {
    let parts: Vec<&str> = cell.split('`').collect();
    assert!(parts.len() == 3, "not one `module` in a cell: {cell}");
    parts[1].to_string()
}

fn parse_rules(md: &str) -> Rules {
    let layers = md_table(md, "Layer table")
        .into_iter()
        .map(|row| {
            let (rank, name) = row[1]
                .split_once(' ')
                .unwrap_or_else(|| panic!("layer is not \"N name\": {row:?}"));
            let rank = rank.parse().unwrap_or_else(|_| panic!("rank: {row:?}"));
            (quoted(&row[0]), rank, name.to_string())
        })
        .collect();
    let pairs = |heading: &str| -> Vec<(String, String)> {
        md_table(md, heading)
            .into_iter()
            .map(|row| (quoted(&row[0]), quoted(&row[1])))
            .collect()
    };
    Rules {
        layers,
        never: pairs("Never"),
        exceptions: pairs("Known exceptions"),
    }
}

fn rules() -> Rules {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    parse_rules(&std::fs::read_to_string(path).unwrap())
}

/// `module` is `path` or inside it.
fn under(module: &str, path: &str) -> bool {
    module == path
        || module
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The row of the longest path that covers `module`.
fn layer_of<'r>(rules: &'r Rules, module: &str) -> Option<&'r (String, u32, String)> {
    rules
        .layers
        .iter()
        .filter(|(p, _, _)| under(module, p))
        .max_by_key(|(p, _, _)| p.len())
}

/// Every import against the rules, one line each, and the exceptions that were needed.
fn violations(
    g: &BTreeMap<String, BTreeSet<String>>,
    rules: &Rules,
) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for (from, deps) in g {
        let Some((_, rank, layer)) = layer_of(rules, from) else {
            continue;
        };
        for to in deps {
            let Some((_, to_rank, to_layer)) = layer_of(rules, to) else {
                continue;
            };
            if to_rank > rank {
                out.push(format!(
                    "{from} ({rank} {layer}) imports {to} ({to_rank} {to_layer}), a higher layer"
                ));
            }
            if let Some((nf, nt)) = rules
                .never
                .iter()
                .find(|(nf, nt)| under(from, nf) && under(to, nt))
            {
                match rules
                    .exceptions
                    .iter()
                    .find(|(ef, et)| ef == from && under(to, et))
                {
                    Some(e) => {
                        used.insert(e.clone());
                    }
                    None => out.push(format!(
                        "{from} imports {to}: never {nf} -> {nt} (ARCHITECTURE.md, Never)"
                    )),
                }
            }
        }
    }
    (out, used)
}

#[test]
fn the_layer_table_names_every_module_once() {
    let rules = rules();
    // The scanner read the tables (a broken one would check nothing).
    assert!(
        rules.layers.len() >= 30,
        "{} layer rows",
        rules.layers.len()
    );
    assert!(rules.never.len() >= 5, "{} never rows", rules.never.len());
    let g = graph();
    let unplaced: Vec<&String> = g.keys().filter(|m| layer_of(&rules, m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules without a row in ARCHITECTURE.md's layer table: {unplaced:?}"
    );
    let mut seen = BTreeSet::new();
    for (path, _, _) in &rules.layers {
        assert!(seen.insert(path), "{path} has two rows");
        assert!(
            g.contains_key(path),
            "the layer table names {path}, no module of src/"
        );
    }
    for (from, to) in rules.never.iter().chain(&rules.exceptions) {
        for m in [from, to] {
            assert!(
                g.contains_key(m),
                "{m} in ARCHITECTURE.md is no module of src/"
            );
        }
    }
}

#[test]
fn imports_follow_the_layer_table() {
    let rules = rules();
    let (found, used) = violations(&graph(), &rules);
    assert!(
        found.is_empty(),
        "imports against ARCHITECTURE.md:\n{}",
        found.join("\n")
    );
    let stale: Vec<_> = rules
        .exceptions
        .iter()
        .filter(|e| !used.contains(*e))
        .collect();
    assert!(
        stale.is_empty(),
        "known exceptions no longer needed (remove their rows): {stale:?}"
    );
}

/// A positive control: imports planted in a copy of the real graph, through the same scanner,
/// are reported: one to a higher layer, one between siblings the Never table keeps apart.
#[test]
fn the_layer_check_reports_planted_imports() {
    let rules = rules();
    let mods = modules();
    let mut g = graph();
    let planted = deps(
        "store::file",
        "use crate::actions::save;\nfn f() { crate::token::file::FileTokenCache::new(); }",
        &mods,
    );
    assert_eq!(
        planted,
        BTreeSet::from(["actions".to_string(), "token::file".to_string()])
    );
    g.get_mut("store::file").unwrap().extend(planted);
    let (found, _) = violations(&g, &rules);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("store::file (3 backends) imports actions (5 actions)")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("store::file imports token::file: never store -> token")),
        "{found:?}"
    );
    // And on a synthetic table: a lower layer naming a higher one, and an exception's reach.
    let md = "## Layer table\n\n| module | layer |\n| --- | --- |\n| `up` | 2 top |\n| `low` | 1 bottom |\n\n\
              ## Never\n\n| from | to | why |\n| --- | --- | --- |\n| `up` | `low::x` | no |\n\n\
              ## Known exceptions\n\n| from | to | why |\n| --- | --- | --- |\n| `up::a` | `low::x` | debt |\n";
    let r = parse_rules(md);
    let mut g = BTreeMap::new();
    g.insert("low".to_string(), BTreeSet::from(["up::a".to_string()]));
    g.insert("up::a".to_string(), BTreeSet::from(["low::x".to_string()]));
    g.insert("up::b".to_string(), BTreeSet::from(["low::x".to_string()]));
    let (found, used) = violations(&g, &r);
    assert_eq!(
        found,
        vec![
            "low (1 bottom) imports up::a (2 top), a higher layer".to_string(),
            "up::b imports low::x: never up -> low::x (ARCHITECTURE.md, Never)".to_string(),
        ]
    );
    assert_eq!(
        used,
        BTreeSet::from([("up::a".to_string(), "low::x".to_string())])
    );
}

/// Files that may read the environment's variables: the raw reader and the settings layer
/// (ARCHITECTURE.md, layer 1: "settings (every variable, read once)").
const READERS: &[&str] = &["env.rs", "settings.rs"];

/// The variable constants `src/env.rs` declares (`const NAME: &str`), by their Rust names.
fn env_constants() -> BTreeSet<String> {
    let text = std::fs::read_to_string(src().join("env.rs")).unwrap();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(i) = line.find("const ") else {
            continue;
        };
        let rest = &line[i + "const ".len()..];
        if let Some((name, ty)) = rest.split_once(':') {
            if ty.trim_start().starts_with("&str") && name.chars().all(ident) {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Reads of an environment variable in one file's code (comments, strings and the test module
/// left out; test-only items count): a call of `text`, `is_set`, `test_clock_shift_ms` or `variables` on an `Env` (a
/// receiver named `env` or `e`, or a field `.env`: the scanner sees no types), of `get` or `path`
/// with an argument on one named `env`, and any such call whose argument names one of `src/env.rs`'s variable constants
/// (`env::HOME`, or `HOME` imported from `crate::env`). Naming a constant elsewhere (in a
/// message, `Error::setting(env::X, ..)`) is no read.
fn env_reads(text: &str, constants: &BTreeSet<String>) -> Vec<String> {
    const METHODS: &[&str] = &[
        "get",
        "path",
        "text",
        "is_set",
        "test_clock_shift_ms",
        "variables",
    ];
    // Only the test module is left out: `code` stops at the first `#[cfg(test)]`, which may be
    // a test-only item above the file's real code.
    let mut text = text;
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let item = from + at;
        from = item + 1;
        if text[item + "#[cfg(test)]".len()..]
            .trim_start()
            .starts_with("mod ")
        {
            text = &text[..item];
            break;
        }
    }
    let code = code(&text.replace("#[cfg(test)]", ""));
    // Constants this file imports from `crate::env` by their bare names.
    let mut imported = BTreeSet::new();
    for stmt in code.split("use ").skip(1) {
        let stmt = stmt.split(';').next().unwrap_or_default();
        if stmt.trim_start().starts_with("crate::env::") {
            for path in expand(stmt) {
                imported.insert(path.rsplit("::").next().unwrap_or_default().to_string());
            }
        }
    }
    let mut found = Vec::new();
    for method in METHODS {
        let needle = format!(".{method}(");
        let mut from = 0;
        while let Some(at) = code[from..].find(&needle) {
            let dot = from + at;
            from = dot + needle.len();
            // The receiver's last segment, over any line break before the dot.
            let before = code[..dot].trim_end();
            let receiver: String = before
                .chars()
                .rev()
                .take_while(|c| ident(*c))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let argument: String = code[from..]
                .chars()
                .take_while(|c| *c != ')' && *c != ',')
                .filter(|c| !c.is_whitespace())
                .collect();
            let bare = argument.trim_start_matches("crate::");
            let constant = match bare.strip_prefix("env::") {
                Some(name) => constants.contains(name),
                None => constants.contains(bare) && imported.contains(bare),
            };
            // `get` and `path` are common names: on `env` only, and with an argument.
            let on_env = match *method {
                "get" | "path" => receiver == "env" && !argument.is_empty(),
                _ => matches!(receiver.as_str(), "env" | "e"),
            };
            if on_env || constant {
                let line = code[..dot].matches('\n').count() + 1;
                found.push(format!("line {line}: {receiver}.{method}({argument})"));
            }
        }
    }
    found.sort();
    found
}

/// "Nothing below the settings layer reads `Env`": every variable is read in src/settings.rs
/// (and src/env.rs, the raw reader), and handed down typed. A read anywhere else fails here.
#[test]
fn only_the_settings_read_the_environment() {
    let constants = env_constants();
    assert!(constants.contains("HOME") && constants.contains("STORE_URL"));
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = modules().into_values().collect();
    files.extend([src().join("lib.rs"), src().join("main.rs")]);
    for file in files {
        let rel = file
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if READERS.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for read in env_reads(&text, &constants) {
            found.push(format!("src/{rel} {read}"));
        }
    }
    assert!(
        found.is_empty(),
        "environment variables read outside src/settings.rs (add a typed accessor there and \
         hand the value down):\n{}",
        found.join("\n")
    );
}

/// A positive control: reads planted in code, through the same scanner, are reported; what only
/// names a variable, or asks the settings, is not.
#[test]
fn the_env_read_check_reports_planted_reads() {
    let constants = env_constants();
    let planted = "use crate::env::{self, Env, TOKEN_CACHE_URL}; #[cfg(test)] use std::sync::Arc;\n\
                   fn a(env: &Env) -> Option<PathBuf> { env.path(env::HOME) }\n\
                   fn b(ctx: &Context) { let _ = ctx.env\n        .get(crate::env::STORE_URL); }\n\
                   fn c(x: &Env) { let _ = x.text(TOKEN_CACHE_URL); }\n\
                   fn d(env: &Env, name: &str) { let _ = env.get(name); }\n\
                   fn h(e: &Env) { let _ = (e.text(name), self.env.test_clock_shift_ms()); }\n\
                   fn f(s: &Settings) -> Error { let _ = s.store_url(); Error::setting(env::STORE_URL, R) }\n\
                   // env.get(env::LOG) in a comment\n\
                   fn g() -> &'static str { \"env.path(env::HOME)\" }\n";
    assert_eq!(
        env_reads(planted, &constants),
        vec![
            "line 2: env.path(env::HOME)".to_string(),
            "line 4: env.get(crate::env::STORE_URL)".to_string(),
            "line 5: x.text(TOKEN_CACHE_URL)".to_string(),
            "line 6: env.get(name)".to_string(),
            "line 7: e.text(name)".to_string(),
            "line 7: env.test_clock_shift_ms()".to_string(),
        ]
    );
    // A bare name is read only when it is the one imported from `crate::env`; `e.get(kind)` or
    // a directory entry's `e.path()` are no reads.
    let entries = "fn f(d: ReadDir, e: &Error) { for e in d { e.path(); } e.get(kind); }\n\
                   #[cfg(test)]\nmod tests { fn t(env: &Env) { env.get(env::HOME); } }";
    assert!(env_reads(entries, &constants).is_empty());
    let other = "use crate::credential_type::AWS_PROFILE;\nfn f(c: &Creds) { c.get(AWS_PROFILE); }";
    assert!(env_reads(other, &constants).is_empty());
    let clean =
        "fn f(s: &Settings) -> Error { let _ = s.store_url(); Error::setting(env::STORE_URL, R) }";
    assert!(env_reads(clean, &constants).is_empty());
}

/// And the other half: every variable `src/env.rs` declares is read by the settings, so none is
/// read nowhere (or elsewhere, unseen). `BETA9_TEST_CLOCK_SHIFT_MS` is parsed by `Env::validate`
/// itself (a malformed one stops the process before anything runs), and handed on by the settings.
#[test]
fn the_settings_read_every_declared_variable() {
    let settings = code(&std::fs::read_to_string(src().join("settings.rs")).unwrap());
    let unread: Vec<_> = env_constants()
        .into_iter()
        .filter(|c| c != "TEST_CLOCK_SHIFT_MS")
        .filter(|c| {
            let named = format!("env::{c}");
            !settings
                .match_indices(&named)
                .any(|(i, _)| !settings[i + named.len()..].starts_with(ident))
        })
        .collect();
    assert!(
        unread.is_empty(),
        "declared in src/env.rs, read nowhere in src/settings.rs: {unread:?}"
    );
}
