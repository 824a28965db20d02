//! Secret hygiene in one place: the growable buffer that zeroizes before it grows, the login type,
//! and the only serialisers that expose secret values (the stored plaintext and `get`'s answer).

use crate::record::Record;
use secrecy::{ExposeSecret, SecretString};
use serde::ser::{SerializeMap, Serializer as _};
use std::fmt;
use std::io::{self, Read, Write};
use zeroize::{Zeroize, Zeroizing};

pub use secrecy::SecretString as Secret;

/// A byte buffer for secret material. `Vec` growth copies into a new allocation and frees the old
/// one unerased; this buffer copies, then zeroizes the old allocation itself.
#[derive(Default)]
pub struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    pub fn with_capacity(n: usize) -> SecretBuf {
        SecretBuf(Zeroizing::new(Vec::with_capacity(n)))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn reserve(&mut self, extra: usize) {
        let need = self.0.len() + extra;
        if need <= self.0.capacity() {
            return;
        }
        let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(self.0.capacity() * 2)));
        bigger.extend_from_slice(&self.0);
        // The old allocation is zeroized (contents and spare capacity) when `Zeroizing` drops it.
        self.0 = bigger;
    }

    /// Reads `r` to EOF, failing once more than `limit` bytes arrive.
    pub fn read_capped(r: &mut impl Read, limit: usize) -> io::Result<Result<SecretBuf, usize>> {
        let mut buf = SecretBuf::with_capacity(8 * 1024);
        let mut chunk = Zeroizing::new([0u8; 8192]);
        loop {
            let n = match r.read(&mut chunk[..]) {
                Ok(0) => return Ok(Ok(buf)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.len() + n > limit {
                return Ok(Err(limit));
            }
            buf.reserve(n);
            buf.0.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Write for SecretBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.reserve(data.len());
        self.0.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf([REDACTED; {} bytes])", self.0.len())
    }
}

/// What `get` answers: a username and a secret. The username can be a token too (GHCR without a
/// username reuses the token), so both are redacted.
pub struct Login {
    pub username: SecretString,
    pub secret: SecretString,
}

impl Login {
    pub fn new(username: &str, secret: &SecretString) -> Login {
        Login {
            username: SecretString::from(username),
            secret: secret.clone(),
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Login { username: [REDACTED], secret: [REDACTED] }")
    }
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (so `<token>` goes out as
/// `\u003ctoken\u003e`). Parsers do not care, but byte-for-byte fidelity with the reference helpers
/// costs nothing.
pub(crate) struct GoFormatter;

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

/// `get`'s answer: `{"ServerURL":…,"Username":…,"Secret":…}` and a newline, as Go's encoder writes it.
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
    out.0.push(b'\n');
    out
}

/// A kubelet `CredentialProviderResponse` (COMPAT.md §8): `auth` maps the match key to the login,
/// or is `null` when nothing is stored.
pub fn kubelet_response_json(
    api_version: &str,
    cache_key_type: &str,
    cache_duration: &str,
    auth: Option<(&str, &Login)>,
) -> SecretBuf {
    let size = auth.map_or(0, |(_, l)| {
        l.username.expose_secret().len() + l.secret.expose_secret().len()
    });
    let mut out = SecretBuf::with_capacity(size * 2 + 256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let write = (|| {
        let mut map = ser.serialize_map(Some(5))?;
        map.serialize_entry("apiVersion", api_version)?;
        map.serialize_entry("kind", "CredentialProviderResponse")?;
        map.serialize_entry("cacheKeyType", cache_key_type)?;
        map.serialize_entry("cacheDuration", cache_duration)?;
        match auth {
            Some((key, login)) => map.serialize_entry("auth", &KubeletAuth(key, login))?,
            None => map.serialize_entry("auth", &())?,
        }
        map.end()
    })();
    debug_assert!(write.is_ok());
    out.0.push(b'\n');
    out
}

struct KubeletAuth<'a>(&'a str, &'a Login);

impl serde::Serialize for KubeletAuth<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut outer = s.serialize_map(Some(1))?;
        let mut inner = std::collections::BTreeMap::new();
        inner.insert("username", self.1.username.expose_secret());
        inner.insert("password", self.1.secret.expose_secret());
        outer.serialize_entry(self.0, &inner)?;
        outer.end()
    }
}

/// The design documents' record JSON, the value of one secret.
pub fn record_json(record: &Record) -> SecretBuf {
    let mut out = SecretBuf::with_capacity(estimate(record));
    let mut ser = serde_json::Serializer::new(&mut out);
    let write = write_record(&mut ser, record);
    debug_assert!(write.is_ok());
    out
}

/// The stored plaintext: the record plus the metadata `list` and `ls` need.
pub fn entry_json(record: &Record, server_url: Option<&str>, updated_at: u64) -> SecretBuf {
    let mut out = SecretBuf::with_capacity(estimate(record) + 128);
    let write = (|| -> io::Result<()> {
        out.write_all(b"{\"updated_at\":")?;
        out.write_all(updated_at.to_string().as_bytes())?;
        if let Some(url) = server_url {
            out.write_all(b",\"server_url\":")?;
            serde_json::to_writer(&mut out, url)?;
        }
        out.write_all(b",\"record\":")?;
        let mut ser = serde_json::Serializer::new(&mut out);
        write_record(&mut ser, record).map_err(io::Error::other)?;
        out.write_all(b"}")
    })();
    debug_assert!(write.is_ok());
    out
}

fn estimate(record: &Record) -> usize {
    let values: usize = record
        .credentials
        .iter()
        .map(|(k, v)| k.len() + v.expose_secret().len() * 2 + 8)
        .sum();
    values + record.registry.as_str().len() + 96
}

struct ExposedCredentials<'a>(&'a Record);

impl serde::Serialize for ExposedCredentials<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.credentials.len()))?;
        for (k, v) in self.0.credentials.iter() {
            map.serialize_entry(k, v.expose_secret())?;
        }
        map.end()
    }
}

fn write_record<W: Write>(
    ser: &mut serde_json::Serializer<W>,
    record: &Record,
) -> Result<(), serde_json::Error> {
    let mut map = ser.serialize_map(Some(4))?;
    map.serialize_entry("version", &crate::record::RECORD_VERSION)?;
    map.serialize_entry("registry", record.registry.as_str())?;
    map.serialize_entry("type", record.kind.as_str())?;
    map.serialize_entry("credentials", &ExposedCredentials(record))?;
    map.end()
}

/// Zeroizes a `String` that briefly held secret text (e.g. an env value being moved).
pub fn wipe(mut s: String) {
    s.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn debug_output_is_redacted() {
        let login = Login::new("CANARY-user", &SecretString::from("CANARY-secret"));
        let shown = format!("{login:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        let mut buf = SecretBuf::default();
        buf.write_all(b"CANARY").unwrap();
        assert!(!format!("{buf:?}").contains("CANARY"));
    }

    #[test]
    fn read_capped_enforces_the_limit_and_keeps_large_inputs() {
        let big = vec![b'x'; 70 * 1024];
        let got = SecretBuf::read_capped(&mut &big[..], 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(got.as_slice(), &big[..]);
        let over = vec![b'x'; (1 << 20) + 1];
        assert_eq!(
            SecretBuf::read_capped(&mut &over[..], 1 << 20)
                .unwrap()
                .err(),
            Some(1 << 20)
        );
    }

    #[test]
    fn growth_keeps_contents() {
        let mut buf = SecretBuf::with_capacity(2);
        for i in 0..1000u32 {
            buf.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(buf.len(), 4000);
        assert_eq!(&buf.as_slice()[4..8], &1u32.to_le_bytes());
    }
}
