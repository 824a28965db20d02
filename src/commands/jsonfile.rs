//! Minimal-diff edits of a client's JSON config (docker's config.json, containers' auth.json).
//!
//! The top-level object is kept as an ordered list of keys and raw value text, so every member
//! we do not touch is written back byte for byte, in its place, with its formatting (docker
//! itself writes tab-indented JSON; a serde_json `Value` would sort keys and reindent). Only
//! `credHelpers` is re-rendered, and only when it changes.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

pub const CRED_HELPERS: &str = "credHelpers";

pub struct Document {
    members: Vec<(String, Box<RawValue>)>,
    indent: String,
    trailing_newline: bool,
}

struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `credHelpers` as found: registry → helper name, in file order.
struct Helpers(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Helpers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Helpers, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Helpers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Helpers, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Helpers(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Document {
    /// Parses a config file's text. Empty text is an empty object (docker treats it so). Errors
    /// give a position only: the file may hold `auths` secrets.
    pub fn parse(text: &str) -> Result<Document, String> {
        if text.trim().is_empty() {
            return Ok(Document {
                members: Vec::new(),
                indent: "\t".into(),
                trailing_newline: true,
            });
        }
        let Members(members) = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a JSON object (error at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        Ok(Document {
            members,
            indent: detect_indent(text),
            trailing_newline: text.ends_with('\n'),
        })
    }

    /// The `credHelpers` entries, in file order (the last `credHelpers` key wins, as in Go).
    pub fn cred_helpers(&self) -> Result<Vec<(String, String)>, String> {
        let Some((_, raw)) = self.members.iter().rev().find(|(k, _)| k == CRED_HELPERS) else {
            return Ok(Vec::new());
        };
        serde_json::from_str::<Helpers>(raw.get())
            .map(|h| h.0)
            .map_err(|_| format!("{CRED_HELPERS} is not an object of strings"))
    }

    /// Replaces (or appends) `credHelpers`.
    pub fn set_cred_helpers(&mut self, helpers: &[(String, String)]) -> Result<(), String> {
        let i = &self.indent;
        let mut text = String::from("{");
        for (n, (k, v)) in helpers.iter().enumerate() {
            text.push_str(if n == 0 { "\n" } else { ",\n" });
            text.push_str(&format!("{i}{i}{}: {}", quote(k), quote(v)));
        }
        text.push_str(&format!("\n{i}}}"));
        if helpers.is_empty() {
            text = "{}".into();
        }
        // Built from quoted strings only, so this cannot fail; keep the error path anyway.
        let raw =
            RawValue::from_string(text).map_err(|_| format!("cannot render {CRED_HELPERS}"))?;
        match self
            .members
            .iter_mut()
            .rev()
            .find(|(k, _)| k == CRED_HELPERS)
        {
            Some((_, v)) => *v = raw,
            None => self.members.push((CRED_HELPERS.to_string(), raw)),
        }
        Ok(())
    }

    /// The file text: untouched members verbatim, in their order.
    pub fn render(&self) -> String {
        let i = &self.indent;
        let mut out = String::from("{");
        for (n, (k, v)) in self.members.iter().enumerate() {
            out.push_str(if n == 0 { "\n" } else { ",\n" });
            out.push_str(&format!("{i}{}: {}", quote(k), v.get()));
        }
        out.push_str(if self.members.is_empty() { "}" } else { "\n}" });
        if self.trailing_newline {
            out.push('\n');
        }
        out
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The whitespace that starts the first member line (docker: a tab); a tab for one-line files.
fn detect_indent(text: &str) -> String {
    let after_brace = text.find('{').map_or("", |p| &text[p + 1..]);
    match after_brace.split_once('\n') {
        Some((_, rest)) => {
            let ws: String = rest
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            if ws.is_empty() {
                "\t".into()
            } else {
                ws
            }
        }
        None => "\t".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_members_keep_order_and_bytes() {
        let text = "{\n\t\"zeta\": 1,\n\t\"auths\": {\n\t\t\"r.example\": {\n\t\t\t\"auth\": \"eDp5\"\n\t\t}\n\t},\n\t\"alpha\": [1,2]\n}";
        let mut d = Document::parse(text).unwrap();
        assert_eq!(d.render(), text);
        d.set_cred_helpers(&[("ghcr.io".into(), "beta9".into())])
            .unwrap();
        let out = d.render();
        assert!(
            out.starts_with("{\n\t\"zeta\": 1,\n\t\"auths\": {\n\t\t\"r.example\""),
            "{out}"
        );
        assert!(
            out.ends_with(
                "\t\"alpha\": [1,2],\n\t\"credHelpers\": {\n\t\t\"ghcr.io\": \"beta9\"\n\t}\n}"
            ),
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["credHelpers"]["ghcr.io"], "beta9");
    }

    #[test]
    fn two_space_files_stay_two_space_and_empty_is_an_object() {
        let mut d = Document::parse("{\n  \"credHelpers\": {\"a.example\": \"x\"}\n}\n").unwrap();
        let mut h = d.cred_helpers().unwrap();
        h.push(("ghcr.io".into(), "beta9".into()));
        d.set_cred_helpers(&h).unwrap();
        assert_eq!(
            d.render(),
            "{\n  \"credHelpers\": {\n    \"a.example\": \"x\",\n    \"ghcr.io\": \"beta9\"\n  }\n}\n"
        );
        assert_eq!(Document::parse("  \n").unwrap().render(), "{}\n");
    }

    #[test]
    fn malformed_files_are_errors_without_content() {
        for bad in ["[1]", "{\"auths\": SEKRIT}", "{"] {
            let e = Document::parse(bad).err().unwrap();
            assert!(!e.contains("SEKRIT") && e.contains("line"), "{e}");
        }
        let d = Document::parse("{\"credHelpers\": [\"x\"]}").unwrap();
        assert!(d.cred_helpers().is_err());
    }
}
