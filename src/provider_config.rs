//! Adds or replaces one provider in a kubelet `CredentialProviderConfig` file (docs/kubelet.md,
//! "Configuration" and "Editing the config file"), keeping every other byte of it: the other
//! providers, comments, key order and formatting. Text in, text out; no file is touched here.
//!
//! kubelet reads the file as YAML or JSON. JSON is parsed (values borrowed from the text, so each
//! one's byte range is known) and only our entry's range is rewritten or inserted. No YAML parser
//! that keeps comments and layout is in the dependency tree, so YAML is edited by blocks of lines:
//! the top-level `providers:` block list is located, split into its items by their `-` lines, and
//! only our item's lines are replaced (or an item appended). Layouts this cannot edit safely (flow
//! style, tabs, several documents) are refused in one line, never guessed at.

use crate::error::NotJsonObject;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What kubelet's config file itself is.
pub(crate) const CONFIG_API_VERSION: &str = "kubelet.config.k8s.io/v1";
pub(crate) const CONFIG_KIND: &str = "CredentialProviderConfig";

/// Our provider entry. Serialised in this field order for the JSON form.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    pub name: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    #[serde(rename = "matchImages")]
    pub match_images: Vec<String>,
    #[serde(rename = "defaultCacheDuration")]
    pub default_cache_duration: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// One `env:` entry. Holds paths, never a secret value.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvVar {
    pub name: String,
    pub value: String,
}

/// The file's syntax: JSON when it exists and is a JSON object, YAML otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Json,
    Yaml,
}

pub(crate) fn syntax_of(existing: Option<&str>) -> Syntax {
    match existing.map(str::trim_start) {
        Some(t) if t.starts_with('{') => Syntax::Json,
        _ => Syntax::Yaml,
    }
}

/// Why a kubelet credential provider config cannot be edited: one line each, quoting nothing from
/// the file (it may hold other providers' settings), a line number at most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProviderConfigError {
    #[error(transparent)]
    NotJson(#[from] NotJsonObject),
    #[error("not a JSON object")]
    NoObject,
    #[error("its kind is not {CONFIG_KIND}")]
    Kind,
    #[error("cannot render the provider entry")]
    Render,
    /// `providers` holds something else than a list of objects (the reason says what).
    #[error("providers {0}")]
    Providers(&'static str),
    #[error("cannot locate {0}")]
    Locate(&'static str),
    /// The provider being written is listed more than once.
    #[error("it lists the provider {0} more than once (kubelet refuses that); remove the copies")]
    Duplicate(String),
    #[error("it has CR line endings; convert it to LF (or use JSON)")]
    CrLineEndings,
    #[error("line {0} is indented with a tab")]
    Tab(usize),
    /// What is wrong at a line of a YAML file.
    #[error("line {line}: {what}")]
    Line { line: usize, what: &'static str },
}

/// The file with `p` added, or replacing the provider of the same name.
pub(crate) fn merge(existing: Option<&str>, p: &Provider) -> Result<String, ProviderConfigError> {
    match syntax_of(existing) {
        Syntax::Json => merge_json(existing.unwrap_or_default(), p),
        Syntax::Yaml => merge_yaml(existing.unwrap_or_default(), p),
    }
}

fn quote(s: &str) -> String {
    // A JSON string is also a YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

// ---------------------------------------------------------------------------------------------
// JSON

#[derive(Deserialize)]
struct JsonTop<'a> {
    #[serde(default)]
    kind: Option<String>,
    // Borrowed raw text, `null` included (an `Option<&RawValue>` would read null as absent).
    #[serde(borrow, default, deserialize_with = "raw_or_null")]
    providers: Option<&'a RawValue>,
}

fn raw_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

/// Byte offset of `inner` inside `outer` (both from the same text).
fn offset(outer: &str, inner: &str) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

/// The whitespace before the first character on the line holding `pos`.
fn line_indent(text: &str, pos: usize) -> &str {
    let start = text[..pos].rfind('\n').map_or(0, |n| n + 1);
    let line = &text[start..pos];
    &line[..line.len() - line.trim_start().len()]
}

/// `p` as pretty JSON whose lines after the first start with `indent`, one `unit` per level.
fn json_item(p: &Provider, indent: &str, unit: &str) -> Result<String, ProviderConfigError> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(unit.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    p.serialize(&mut ser)
        .map_err(|_| ProviderConfigError::Render)?;
    let text = String::from_utf8(buf).map_err(|_| ProviderConfigError::Render)?;
    Ok(text.replace('\n', &format!("\n{indent}")))
}

/// The whitespace opening a JSON object's first member line, to write new members the way the
/// file already is; `default` for a one-line object. Shared with docker's config.json editing.
pub(crate) fn first_member_indent(text: &str, default: &str) -> String {
    let after = text.find('{').map_or("", |p| &text[p + 1..]);
    let ws: String = match after.split_once('\n') {
        Some((_, rest)) => rest
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect(),
        None => String::new(),
    };
    if ws.is_empty() {
        default.into()
    } else {
        ws
    }
}

fn fresh_json(p: &Provider) -> Result<String, ProviderConfigError> {
    let u = "  ";
    Ok(format!(
        "{{\n{u}\"apiVersion\": {},\n{u}\"kind\": {},\n{u}\"providers\": [\n{u}{u}{}\n{u}]\n}}\n",
        quote(CONFIG_API_VERSION),
        quote(CONFIG_KIND),
        json_item(p, &format!("{u}{u}"), u)?
    ))
}

fn merge_json(text: &str, p: &Provider) -> Result<String, ProviderConfigError> {
    let bad = |e: serde_json::Error| NotJsonObject::at(&e);
    let top: JsonTop = serde_json::from_str(text).map_err(bad)?;
    let inside = text.trim().trim_start_matches('{').trim_end_matches('}');
    if inside.trim().is_empty() {
        return fresh_json(p);
    }
    if top.kind.as_deref() != Some(CONFIG_KIND) {
        return Err(ProviderConfigError::Kind);
    }
    let unit = first_member_indent(text, "  ");
    let Some(providers) = top.providers else {
        // No `providers` member: insert one after the last member.
        let close = text.rfind('}').ok_or(ProviderConfigError::NoObject)?;
        let at = text[..close].trim_end().len();
        let item = json_item(p, &format!("{unit}{unit}"), &unit)?;
        let member = format!(",\n{unit}\"providers\": [\n{unit}{unit}{item}\n{unit}]");
        return Ok(format!("{}{member}{}", &text[..at], &text[at..]));
    };
    // `null` is an empty list, replaced in place like `[]`.
    let items: Vec<&RawValue> = match providers.get() {
        "null" => Vec::new(),
        list => serde_json::from_str(list)
            .map_err(|_| ProviderConfigError::Providers("is not a list of objects"))?,
    };
    let list_at = offset(text, providers.get()).ok_or(ProviderConfigError::Locate("providers"))?;
    let mut ours = Vec::new();
    for raw in &items {
        let named: Named = serde_json::from_str(raw.get())
            .map_err(|_| ProviderConfigError::Providers("holds something that is not an object"))?;
        if named.name.as_deref() == Some(p.name.as_str()) {
            ours.push(*raw);
        }
    }
    let item_indent = match items.first().and_then(|r| offset(text, r.get())) {
        Some(at) => line_indent(text, at).to_string(),
        None => format!("{}{unit}", line_indent(text, list_at)),
    };
    let item = json_item(p, &item_indent, &unit)?;
    match ours.as_slice() {
        [one] => {
            let at = offset(text, one.get()).ok_or(ProviderConfigError::Locate("our provider"))?;
            Ok(format!(
                "{}{item}{}",
                &text[..at],
                &text[at + one.get().len()..]
            ))
        }
        [] => match items.last() {
            Some(last) => {
                let at = offset(text, last.get())
                    .ok_or(ProviderConfigError::Locate("providers"))?
                    + last.get().len();
                Ok(format!(
                    "{},\n{item_indent}{item}{}",
                    &text[..at],
                    &text[at..]
                ))
            }
            None => {
                let end = list_at + providers.get().len();
                let outer = line_indent(text, list_at);
                Ok(format!(
                    "{}[\n{item_indent}{item}\n{outer}]{}",
                    &text[..list_at],
                    &text[end..]
                ))
            }
        },
        _ => Err(ProviderConfigError::Duplicate(p.name.clone())),
    }
}

// ---------------------------------------------------------------------------------------------
// YAML

/// `p` as a block-list item at `seq` (the `-` column), content two columns further in.
fn yaml_item(p: &Provider, seq: &str) -> String {
    let c = format!("{seq}  ");
    let mut out = format!("{seq}- name: {}\n", quote(&p.name));
    out.push_str(&format!("{c}apiVersion: {}\n", quote(&p.api_version)));
    out.push_str(&format!(
        "{c}defaultCacheDuration: {}\n",
        quote(&p.default_cache_duration)
    ));
    let args: Vec<String> = p.args.iter().map(|a| quote(a)).collect();
    out.push_str(&format!("{c}args: [{}]\n", args.join(", ")));
    if !p.env.is_empty() {
        out.push_str(&format!("{c}env:\n"));
        for e in &p.env {
            out.push_str(&format!("{c}  - name: {}\n", quote(&e.name)));
            out.push_str(&format!("{c}    value: {}\n", quote(&e.value)));
        }
    }
    out.push_str(&format!("{c}matchImages:\n"));
    for m in &p.match_images {
        out.push_str(&format!("{c}  - {}\n", quote(m)));
    }
    out
}

fn fresh_yaml(p: &Provider) -> String {
    format!(
        "apiVersion: {CONFIG_API_VERSION}\nkind: {CONFIG_KIND}\nproviders:\n{}",
        yaml_item(p, "  ")
    )
}

/// A line's parts: its indentation width and its content without a trailing comment.
struct Line<'a> {
    indent: usize,
    body: &'a str,
}

fn is_content(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn parse_line(l: &str) -> Line<'_> {
    let body = l.trim_start_matches(' ');
    Line {
        indent: l.len() - body.len(),
        body: body.trim_end(),
    }
}

/// A plain, single- or double-quoted scalar without its trailing comment or quotes.
fn scalar(v: &str) -> &str {
    let v = v.trim();
    if v.starts_with('#') {
        return "";
    }
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q) {
            if let Some(end) = rest.find(q) {
                return &rest[..end];
            }
        }
    }
    match v.find(" #") {
        Some(n) => v[..n].trim_end(),
        None => v,
    }
}

/// `key: value` at the start of `body`: the value text, if the key matches (quoted or not).
fn key_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    for k in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(rest) = body.strip_prefix(&k) {
            let rest = rest.trim_start_matches(' ');
            if let Some(v) = rest.strip_prefix(':') {
                if v.is_empty() || v.starts_with(' ') {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn merge_yaml(text: &str, p: &Provider) -> Result<String, ProviderConfigError> {
    let at = |line: usize, what: &'static str| ProviderConfigError::Line { line, what };
    if text.contains('\r') {
        return Err(ProviderConfigError::CrLineEndings);
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut first_content = true;
    let mut kind = None;
    let mut providers_at = None;
    for (n, raw) in lines.iter().enumerate() {
        let l = raw.trim_end_matches('\n');
        if l.starts_with('\t')
            || (is_content(l) && l[..l.len() - l.trim_start().len()].contains('\t'))
        {
            return Err(ProviderConfigError::Tab(n + 1));
        }
        if !is_content(l) {
            continue;
        }
        let doc_marker = l.trim_end() == "---" || l.trim_end() == "...";
        if doc_marker && !(first_content && l.trim_end() == "---") {
            return Err(at(n + 1, "several YAML documents in one file; keep one"));
        }
        first_content = false;
        if l.starts_with(' ') || doc_marker {
            continue;
        }
        if let Some(v) = key_value(l, "kind") {
            kind = Some(scalar(v).to_string());
        }
        if let Some(v) = key_value(l, "providers") {
            if providers_at.is_some() {
                return Err(at(n + 1, "a second providers key"));
            }
            providers_at = Some((n, scalar(v).to_string()));
        }
    }
    if first_content {
        // Nothing but comments or blank lines: keep them, then a fresh config.
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fresh_yaml(p));
        return Ok(out);
    }
    if kind.as_deref() != Some(CONFIG_KIND) {
        return Err(ProviderConfigError::Kind);
    }
    let join = |head: &[&str], mid: &str, tail: &[&str]| -> String {
        let mut out: String = head.concat();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(mid);
        out.push_str(&tail.concat());
        out
    };
    let Some((pline, inline)) = providers_at else {
        let last = lines.iter().rposition(|l| is_content(l)).unwrap_or(0);
        let mid = format!("providers:\n{}", yaml_item(p, "  "));
        return Ok(join(&lines[..=last], &mid, &lines[last + 1..]));
    };
    match inline.as_str() {
        "" | "[]" | "null" | "~" => {}
        _ => {
            return Err(at(
                pline + 1,
                "providers is not a block list (flow style); write it as `- name: ...` items, or use JSON",
            ))
        }
    }
    // The block: every line after `providers:` until a column-0 line that is not a comment and
    // not a `-` item at column 0.
    let mut end = pline + 1;
    let mut seq: Option<usize> = None;
    let mut items: Vec<usize> = Vec::new();
    while end < lines.len() {
        let raw = lines[end].trim_end_matches('\n');
        if !is_content(raw) {
            end += 1;
            continue;
        }
        let l = parse_line(raw);
        let dash = l.body == "-" || l.body.starts_with("- ");
        if l.indent == 0 && !(dash && seq.unwrap_or(0) == 0) {
            break;
        }
        let s = *seq.get_or_insert(l.indent);
        if !dash && seq == Some(l.indent) && items.is_empty() {
            return Err(at(end + 1, "providers is not a list"));
        }
        if l.indent < s || (l.indent == s && !dash) {
            return Err(at(end + 1, "unexpected indentation in the providers list"));
        }
        if l.indent == s {
            items.push(end);
        }
        end += 1;
    }
    if !inline.is_empty() && !items.is_empty() {
        return Err(at(pline + 1, "providers is given twice"));
    }
    let last_content = |from: usize, to: usize| -> usize {
        (from..to)
            .rev()
            .find(|&i| is_content(lines[i]))
            .unwrap_or(from)
    };
    let seq_ws = " ".repeat(seq.unwrap_or(2));
    let item = yaml_item(p, &seq_ws);
    let mut ours = Vec::new();
    for (k, &start) in items.iter().enumerate() {
        let stop = items.get(k + 1).copied().unwrap_or(end);
        let last = last_content(start, stop);
        if item_name(&lines[start..=last]).as_deref() == Some(p.name.as_str()) {
            ours.push((start, last));
        }
    }
    match ours.as_slice() {
        [(start, last)] => Ok(join(&lines[..*start], &item, &lines[last + 1..])),
        [] => match items.last() {
            Some(&start) => {
                let last = last_content(start, end);
                Ok(join(&lines[..=last], &item, &lines[last + 1..]))
            }
            None => Ok(join(
                &lines[..pline],
                &format!("providers:\n{item}"),
                &lines[pline + 1..],
            )),
        },
        _ => Err(ProviderConfigError::Duplicate(p.name.clone())),
    }
}

/// The `name:` of one list item (its lines, the first being the `-` line).
fn item_name(item: &[&str]) -> Option<String> {
    let first = parse_line(item.first()?.trim_end_matches('\n'));
    let after = first.body.strip_prefix('-')?;
    let inner = after.trim_start_matches(' ');
    let content_indent = if inner.is_empty() {
        item.iter()
            .skip(1)
            .find(|l| is_content(l))
            .map(|l| parse_line(l).indent)?
    } else {
        if let Some(v) = key_value(inner, "name") {
            return Some(scalar(v).to_string());
        }
        first.indent + 1 + (after.len() - inner.len())
    };
    item.iter().skip(1).find_map(|raw| {
        let l = parse_line(raw.trim_end_matches('\n'));
        (l.indent == content_indent)
            .then(|| key_value(l.body, "name"))
            .flatten()
            .map(|v| scalar(v).to_string())
    })
}

/// The text for a diff, with every `value` member (an `env` entry's) masked unless it is one of
/// `keep`: another provider's environment may carry a token. Works on YAML and JSON text alike,
/// compact JSON included.
pub(crate) fn masked_for_diff(text: &str, keep: &[String], mask: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = find_value_key(rest) {
        let (before, after_colon) = (&rest[..found.0], &rest[found.1..]);
        out.push_str(before);
        out.push_str(&rest[found.0..found.1]);
        let ws = after_colon.len() - after_colon.trim_start_matches([' ', '\t']).len();
        let v = &after_colon[ws..];
        let len = scalar_len(v);
        let shown = scalar(&v[..len]);
        out.push_str(&after_colon[..ws]);
        if len == 0 || keep.iter().any(|k| k == shown) {
            out.push_str(&v[..len]);
        } else {
            out.push_str(mask);
        }
        rest = &v[len..];
    }
    out.push_str(rest);
    out
}

/// The byte range of the next `value:` key (quoted or not, colon included).
fn find_value_key(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(n) = text[from..].find("value") {
        let at = from + n;
        let prev = text[..at].chars().next_back();
        let quoted = matches!(prev, Some('"' | '\''));
        let start = if quoted { at - 1 } else { at };
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '{' | ',' | '-'));
        let mut end = at + "value".len();
        if quoted && text[end..].starts_with(prev.unwrap_or('"')) {
            end += 1;
        } else if quoted {
            from = end;
            continue;
        }
        let after = &text[end..];
        let colon = after.len() - after.trim_start_matches(' ').len();
        if before_ok && after[colon..].starts_with(':') {
            let next = after[colon + 1..].chars().next();
            if next.is_none_or(|c| matches!(c, ' ' | '\t' | '"' | '\'' | '\n')) {
                return Some((start, end + colon + 1));
            }
        }
        from = end;
    }
    None
}

/// The length of the scalar at the start of `v`: a quoted string, or up to `,` `}` `]`, a
/// comment or the end of the line.
fn scalar_len(v: &str) -> usize {
    let mut chars = v.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    return i + 1;
                } else if c == '\n' {
                    return i;
                }
            }
            v.len()
        }
        _ => v
            .find(['\n', ',', '}', ']'])
            .unwrap_or(v.len())
            .min(v.find(" #").unwrap_or(v.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(dir: &str) -> Provider {
        Provider {
            name: "docker-credential-beta9".into(),
            api_version: "credentialprovider.kubelet.k8s.io/v1".into(),
            match_images: vec!["ghcr.io".into(), "*.dkr.ecr.*.amazonaws.com".into()],
            default_cache_duration: "5m".into(),
            args: vec!["kubelet".into()],
            env: vec![EnvVar {
                name: "BETA9_CREDENTIALS_DIR".into(),
                value: dir.into(),
            }],
        }
    }

    const ECR_YAML: &str = "\
# node config, hand-written
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  # the cloud's own plugin
  - name: ecr-credential-provider
    matchImages:
      - \"*.dkr.ecr.*.amazonaws.com\"
    defaultCacheDuration: \"12h\"   # keep
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    env:
    - name: AWS_PROFILE
      value: SEKRIT-ish
  # trailing comment
";

    #[test]
    fn yaml_append_keeps_every_other_byte_and_a_second_merge_changes_nothing() {
        let once = merge(Some(ECR_YAML), &ours("/var/lib/b9")).unwrap();
        assert!(once.starts_with(&ECR_YAML[..ECR_YAML.find("  # trailing").unwrap()]));
        assert!(once.contains("  - name: \"docker-credential-beta9\"\n"));
        assert!(once.ends_with("  # trailing comment\n"), "{once}");
        assert_eq!(merge(Some(&once), &ours("/var/lib/b9")).unwrap(), once);
        // A changed setting replaces our item in place, nothing else.
        let twice = merge(Some(&once), &ours("/srv/b9")).unwrap();
        assert_eq!(twice, once.replace("/var/lib/b9", "/srv/b9"));
    }

    #[test]
    fn yaml_finds_our_item_however_it_is_written() {
        for (text, named) in [
            ("kind: CredentialProviderConfig\nproviders:\n- name: docker-credential-beta9\n  args: [x]\n- name: other\n", true),
            ("kind: CredentialProviderConfig\nproviders:\n  -\n    args: [x]\n    name: 'docker-credential-beta9'\n", true),
            ("kind: CredentialProviderConfig\nproviders:\n  - args: [x]\n    name: \"docker-credential-beta9\" # ours\n", true),
            ("kind: CredentialProviderConfig\nproviders:\n  - name: other\n", false),
            ("kind: CredentialProviderConfig # the kind\nproviders: # the list\n  - name: other\n", false),
        ] {
            let out = merge(Some(text), &ours("/d")).unwrap();
            assert_eq!(out.matches("docker-credential-beta9").count(), 1, "{out}");
            assert_eq!(out.contains("other"), text.contains("other"), "{out}");
            assert!(!named || !out.contains("[x]"), "{out}");
        }
    }

    #[test]
    fn yaml_layouts_that_cannot_be_edited_safely_are_refused() {
        for text in [
            "kind: CredentialProviderConfig\nproviders: [{name: a}]\n",
            "kind: CredentialProviderConfig\nproviders:\n\t- name: a\n",
            "kind: CredentialProviderConfig\nproviders:\n  - name: a\n---\nkind: X\n",
            "kind: KubeletConfiguration\n",
            "kind: CredentialProviderConfig\r\nproviders:\r\n",
            "kind: CredentialProviderConfig\nproviders:\n  - name: docker-credential-beta9\n  - name: docker-credential-beta9\n",
        ] {
            let e = merge(Some(text), &ours("/d")).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn json_stays_json_and_only_our_entry_changes() {
        let text = "{\n    \"apiVersion\": \"kubelet.config.k8s.io/v1\",\n    \"kind\": \"CredentialProviderConfig\",\n    \"providers\": [\n        {\"name\":\"ecr\",   \"matchImages\":[\"*.dkr.ecr.*.amazonaws.com\"]}\n    ]\n}\n";
        let once = merge(Some(text), &ours("/a")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&once).unwrap();
        assert_eq!(v["providers"][1]["name"], "docker-credential-beta9");
        assert!(once.contains("{\"name\":\"ecr\",   \"matchImages\""));
        assert_eq!(merge(Some(&once), &ours("/a")).unwrap(), once);
        let other = merge(Some(&once), &ours("/b")).unwrap();
        assert_eq!(other, once.replace("\"/a\"", "\"/b\""));
        // No providers member, and an empty list.
        for t in [
            "{\"kind\": \"CredentialProviderConfig\"}",
            "{\"kind\": \"CredentialProviderConfig\", \"providers\": []}",
            "{}",
            "{\"kind\": \"CredentialProviderConfig\", \"providers\": null}",
        ] {
            let out = merge(Some(t), &ours("/a")).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["providers"][0]["env"][0]["value"], "/a", "{out}");
            assert_eq!(merge(Some(&out), &ours("/a")).unwrap(), out);
        }
    }

    #[test]
    fn a_new_or_empty_file_gets_a_whole_yaml_config() {
        let out = merge(None, &ours("/a")).unwrap();
        assert!(out.starts_with("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name:"));
        assert_eq!(merge(Some(&out), &ours("/a")).unwrap(), out);
        let commented = merge(Some("# managed\n"), &ours("/a")).unwrap();
        assert!(commented.starts_with("# managed\napiVersion:"));
    }

    #[test]
    fn diffs_mask_other_providers_env_values() {
        let m = masked_for_diff(ECR_YAML, &["/var/lib/b9".into()], "<masked>");
        assert!(!m.contains("SEKRIT"), "{m}");
        assert!(m.contains("      value: <masked>\n"), "{m}");
        let j = masked_for_diff(
            "{\"value\": \"SEKRIT\",\n\"value\": \"/k\"}",
            &["/k".into()],
            "<m>",
        );
        assert!(!j.contains("SEKRIT") && j.contains("\"/k\""), "{j}");
    }

    #[test]
    fn provider_config_errors_are_typed_and_worded_once() {
        let p = ours("/b");
        let e = merge(
            Some("kind: CredentialProviderConfig\n\tproviders: []\n"),
            &p,
        )
        .unwrap_err();
        assert_eq!(e, ProviderConfigError::Tab(2));
        let e = merge(Some("{\"kind\": \"Other\"}"), &p).unwrap_err();
        assert_eq!(
            (&e, e.to_string()),
            (
                &ProviderConfigError::Kind,
                format!("its kind is not {CONFIG_KIND}")
            )
        );
        let twice = format!("{{\"kind\": \"{CONFIG_KIND}\", \"providers\": [{{\"name\": \"{0}\"}}, {{\"name\": \"{0}\"}}]}}", p.name);
        let e = merge(Some(&twice), &p).unwrap_err();
        assert_eq!(e, ProviderConfigError::Duplicate(p.name.clone()));
        let e = merge(Some("{x"), &p).unwrap_err();
        assert!(matches!(
            e,
            ProviderConfigError::NotJson(NotJsonObject { line: 1, .. })
        ));
    }
}
