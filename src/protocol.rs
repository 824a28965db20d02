//! The docker credential-helper wire format (docker/docker-credential-helpers `credentials/`), over
//! plain byte slices. It ends where bytes become a typed request and starts again where an answer
//! must become bytes; it never touches the store, stdin/stdout or exit codes.

use crate::error::{Error, Result};
use crate::login::{Login, NewLogin};
use crate::secret::SecretBuf;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserialize as _, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer as _};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

pub(crate) const NAME: &str = "docker-credential-beta9";
pub(crate) const PACKAGE: &str = "beta9";
/// Stdin cap. Go's scanner stops at 64 KiB lines; we take more (a 64 KiB+ token must round-trip)
/// but not unbounded input.
pub(crate) const STDIN_LIMIT: usize = 1 << 20;

/// The five verbs docker runs, each with exactly one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Store,
    Get,
    Erase,
    List,
    Version,
}

impl Verb {
    pub(crate) fn parse(arg: &str) -> Option<Verb> {
        match arg {
            "store" => Some(Verb::Store),
            "get" => Some(Verb::Get),
            "erase" => Some(Verb::Erase),
            "list" => Some(Verb::List),
            "version" => Some(Verb::Version),
            _ => None,
        }
    }

    /// `list` and `version` never read stdin (docker-py and Go send `unused`, some callers nothing).
    pub(crate) fn reads_stdin(self) -> bool {
        matches!(self, Verb::Store | Verb::Get | Verb::Erase)
    }
}

pub(crate) fn usage() -> String {
    format!("Usage: {NAME} <store|get|erase|list|version>")
}

pub(crate) fn version_line() -> String {
    format!("{NAME} ({PACKAGE}) {}", env!("CARGO_PKG_VERSION"))
}

pub(crate) fn unknown_action(action: &str) -> String {
    format!("{NAME}: unknown action: {action}")
}

/// Decodes `{"ServerURL","Username","Secret"}` as Go's `encoding/json` would into
/// `credentials.Credentials`: keys match case-insensitively, unknown keys and `null` are ignored,
/// only the first JSON value counts. Go's scanner drops line breaks first, which changes nothing
/// for valid JSON, so it is not emulated.
pub fn parse_store(input: &[u8]) -> Result<NewLogin> {
    let mut de = serde_json::Deserializer::from_slice(input);
    let raw = RawStore::deserialize(&mut de).map_err(|e| Error::from_json(&e))?;
    let server_url = raw.server_url.unwrap_or_default();
    let username = raw.username.unwrap_or_default();
    if server_url.is_empty() {
        return Err(Error::MissingServerUrl);
    }
    if username.is_empty() {
        return Err(Error::MissingUsername);
    }
    Ok(NewLogin {
        server_url,
        username,
        secret: raw.secret.unwrap_or_else(|| SecretString::from("")),
    })
}

#[derive(Default)]
struct RawStore {
    server_url: Option<String>,
    username: Option<String>,
    secret: Option<SecretString>,
}

impl<'de> de::Deserialize<'de> for RawStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStore;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<RawStore, A::Error> {
                let mut out = RawStore::default();
                while let Some(key) = m.next_key::<String>()? {
                    match key.to_lowercase().as_str() {
                        "serverurl" => {
                            if let Some(v) = m.next_value::<Option<String>>()? {
                                out.server_url = Some(v);
                            }
                        }
                        "username" => {
                            if let Some(v) = m.next_value::<Option<String>>()? {
                                out.username = Some(v);
                            }
                        }
                        "secret" => {
                            if let Some(v) = m.next_value::<Option<SecretString>>()? {
                                out.secret = Some(v);
                            }
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The server URL of `get`/`erase`: Go joins the scanner's lines (dropping `\n` and a `\r` before
/// it) and trims whitespace.
pub fn parse_server_url(input: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(input)
        .map_err(|_| Error::Invalid("server URL on stdin is not UTF-8".into()))?;
    let joined: String = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let url = joined.trim();
    if url.is_empty() {
        return Err(Error::MissingServerUrl);
    }
    Ok(url.to_string())
}

/// `list`'s answer: a JSON object, keys sorted as Go's encoder sorts map keys, `{}` when empty.
pub(crate) fn list_json(accounts: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * accounts.len() + 4);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    if serde::Serialize::serialize(accounts, &mut ser).is_err() {
        out = b"{}".to_vec();
    }
    out.push(b'\n');
    out
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (so `<token>` goes out as
/// `\u003ctoken\u003e`). Parsers do not care, but byte-for-byte fidelity with the reference helpers
/// costs nothing (docs/protocol.md).
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        frag: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in frag.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&frag.as_bytes()[start..i])?;
            w.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        w.write_all(&frag.as_bytes()[start..])
    }
}

/// `get`'s answer: `{"ServerURL":…,"Username":…,"Secret":…}` and a newline, as Go's encoder
/// writes it. One of the few places a secret is exposed, straight into a zeroizing buffer.
pub fn login_json(server_url: &str, login: &Login) -> SecretBuf {
    let size = server_url.len()
        + login.username.expose_secret().len()
        + login.secret.expose_secret().len();
    let mut out = SecretBuf::with_capacity(size * 2 + 64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    let write = (|| {
        let mut map = ser.serialize_map(Some(3))?;
        map.serialize_entry("ServerURL", server_url)?;
        map.serialize_entry("Username", login.username.expose_secret())?;
        map.serialize_entry("Secret", login.secret.expose_secret())?;
        map.end()
    })();
    // Serialising strings into memory cannot fail.
    debug_assert!(write.is_ok());
    let _ = out.write_all(b"\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn login_json_matches_go_bytes() {
        let login = Login::new("<token>", &SecretString::from("a&b"));
        let out = login_json("https://index.docker.io/v1/", &login);
        assert_eq!(
            std::str::from_utf8(out.as_slice()).unwrap(),
            "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"a\\u0026b\"}\n"
        );
    }

    #[test]
    fn login_json_escapes_quotes_newlines_unicode() {
        let secret = "q\"uo\\te\nline\u{2028}é😀";
        let out = login_json("r", &Login::new("u", &SecretString::from(secret)));
        let v: serde_json::Value = serde_json::from_slice(out.as_slice()).unwrap();
        assert_eq!(v["Secret"], secret);
        assert_eq!(out.as_slice().iter().filter(|b| **b == b'\n').count(), 1);
    }

    #[test]
    fn store_accepts_go_shapes() {
        let cases: [&[u8]; 5] = [
            br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#,
            b"{\n  \"ServerURL\": \"ghcr.io\",\n  \"Username\": \"u\",\n  \"Secret\": \"s\"\n}\n",
            br#"{"serverurl":"ghcr.io","username":"u","secret":"s","Extra":{"a":[1]}}"#,
            br#"{"SERVERURL":"ghcr.io","USERNAME":"u","SECRET":"s"} trailing"#,
            br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s","Secret":null}"#,
        ];
        for c in cases {
            let r =
                parse_store(c).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(c)));
            assert_eq!(r.server_url, "ghcr.io");
            assert_eq!(r.username, "u");
            assert_eq!(r.secret.expose_secret(), "s");
        }
    }

    #[test]
    fn store_errors_are_dockers() {
        let e = |b: &[u8]| parse_store(b).unwrap_err().protocol_message();
        assert_eq!(
            e(br#"{"Username":"u","Secret":"s"}"#),
            "no credentials server URL"
        );
        assert_eq!(
            e(br#"{"ServerURL":"x","Secret":"s"}"#),
            "no credentials username"
        );
        assert_eq!(
            e(br#"{"ServerURL":"x","Username":"","Secret":"s"}"#),
            "no credentials username"
        );
        assert_eq!(e(b""), "EOF");
        assert!(e(b"{\"ServerURL\":").starts_with("malformed JSON"));
        assert!(e(b"[1,2]").starts_with("malformed JSON"));
        let msg = e(br#"{"ServerURL":"x","Username":"u","Secret":CANARY}"#);
        assert!(!msg.contains("CANARY"), "{msg}");
    }

    #[test]
    fn empty_secret_is_valid() {
        let r = parse_store(br#"{"ServerURL":"x","Username":"u","Secret":""}"#).unwrap();
        assert_eq!(r.secret.expose_secret(), "");
        let r = parse_store(br#"{"ServerURL":"x","Username":"u"}"#).unwrap();
        assert_eq!(r.secret.expose_secret(), "");
    }

    #[test]
    fn server_url_is_trimmed_like_go() {
        assert_eq!(parse_server_url(b"ghcr.io").unwrap(), "ghcr.io");
        assert_eq!(parse_server_url(b"  ghcr.io\r\n").unwrap(), "ghcr.io");
        assert_eq!(parse_server_url(b"ghcr\n.io\n").unwrap(), "ghcr.io");
        assert!(matches!(
            parse_server_url(b" \n"),
            Err(Error::MissingServerUrl)
        ));
        assert!(matches!(
            parse_server_url(b""),
            Err(Error::MissingServerUrl)
        ));
    }

    #[test]
    fn list_is_an_object_never_null() {
        assert_eq!(list_json(&BTreeMap::new()), b"{}\n");
        let mut m = BTreeMap::new();
        m.insert("https://index.docker.io/v1/".to_string(), "u".to_string());
        m.insert("ghcr.io".to_string(), "g".to_string());
        assert_eq!(
            list_json(&m),
            b"{\"ghcr.io\":\"g\",\"https://index.docker.io/v1/\":\"u\"}\n"
        );
    }

    #[test]
    fn store_request_debug_is_redacted() {
        let r =
            parse_store(br#"{"ServerURL":"x","Username":"CANARY-u","Secret":"CANARY-s"}"#).unwrap();
        assert!(!format!("{r:?}").contains("CANARY"));
    }
}
