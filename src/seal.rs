//! The sealed-file format shared by store entries and the token cache.
//!
//! `MAGIC (4) | format version (1) | nonce (24) | XChaCha20-Poly1305 ciphertext + tag`.
//! The associated data binds magic, version, purpose, workspace and file name, so a file copied onto
//! another entry's name, into another workspace, or from the cache into the store fails to open.

use crate::secret::SecretBuf;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use std::io::Write;

pub const MAGIC: &[u8; 4] = b"B9CR";
pub const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + 1 + NONCE_LEN;

/// What a sealed file is for; part of key derivation and associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Entry,
    TokenCache,
    /// The store base's key-check value: proves which master key sealed the base.
    KeyCheck,
    /// A master key sealed under another during a rotation.
    Rotation,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Entry => "entry",
            Purpose::TokenCache => "token-cache",
            Purpose::KeyCheck => "key-check",
            Purpose::Rotation => "rotation",
        }
    }
}

/// A 256-bit key. `Debug` is redacted by `SecretBox`; the bytes are zeroed on drop.
pub struct Key(SecretBox<[u8; 32]>);

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(SecretBox::new(Box::new(bytes)))
    }

    pub(crate) fn generate() -> anyhow::Result<Key> {
        let mut k = Box::new([0u8; 32]);
        getrandom::fill(&mut k[..])
            .map_err(|e| anyhow::anyhow!("no OS randomness for a new key: {e}"))?;
        Ok(Key(SecretBox::new(k)))
    }

    /// A second handle on the same key material (zeroized independently on drop).
    pub(crate) fn duplicate(&self) -> Key {
        Key::from_bytes(*self.expose())
    }

    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// The key for one workspace and purpose, by HKDF-SHA256 (RFC 5869) from the master key, so a
    /// workspace's files are useless under another workspace's key.
    pub fn derive(&self, workspace: &str, purpose: Purpose) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(b"docker-credential-beta9/v1"), self.expose());
        let mut out = Box::new([0u8; 32]);
        let info = format!("{}\0{workspace}", purpose.label());
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
        let _ = hk.expand(info.as_bytes(), &mut out[..]);
        Key(SecretBox::new(out))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not one of our files (wrong magic or shorter than a header).
    NotSealed,
    /// Written by a newer helper.
    UnsupportedVersion(u8),
    /// Wrong key, or the bytes, name or workspace were changed.
    Authentication,
}

fn associated_data(purpose: Purpose, workspace: &str, name: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64 + workspace.len() + name.len());
    ad.extend_from_slice(MAGIC);
    ad.push(FORMAT_VERSION);
    ad.extend_from_slice(purpose.label().as_bytes());
    ad.push(0);
    ad.extend_from_slice(workspace.as_bytes());
    ad.push(0);
    ad.extend_from_slice(name.as_bytes());
    ad
}

pub fn seal(
    key: &Key,
    purpose: Purpose,
    workspace: &str,
    name: &str,
    plaintext: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let ad = associated_data(purpose, workspace, name);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open(
    key: &Key,
    purpose: Purpose,
    workspace: &str,
    name: &str,
    sealed: &[u8],
) -> Result<SecretBuf, OpenError> {
    if sealed.len() < HEADER_LEN || &sealed[..4] != MAGIC {
        return Err(OpenError::NotSealed);
    }
    if sealed[4] != FORMAT_VERSION {
        return Err(OpenError::UnsupportedVersion(sealed[4]));
    }
    let nonce = XNonce::from_slice(&sealed[5..HEADER_LEN]);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let ad = associated_data(purpose, workspace, name);
    let plain = zeroize::Zeroizing::new(
        cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: &ad,
                },
            )
            .map_err(|_| OpenError::Authentication)?,
    );
    let mut buf = SecretBuf::with_capacity(plain.len());
    let _ = buf.write_all(&plain);
    Ok(buf)
}

/// 64 hex characters (surrounding whitespace allowed) or exactly 32 raw bytes (docs/storage.md,
/// "Key file shape").
pub(crate) fn parse_key(bytes: &[u8]) -> Option<Key> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if let Some(t) = text.filter(|t| t.len() == 64) {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        if hex::decode_to_slice(t, &mut k[..]).is_ok() {
            return Some(Key::from_bytes(*k));
        }
    }
    if bytes.len() == 32 {
        let mut k = [0u8; 32];
        k.copy_from_slice(bytes);
        return Some(Key::from_bytes(k));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn round_trip() {
        let k = key(1).derive("default", Purpose::Entry);
        let s = seal(&k, Purpose::Entry, "default", "n", b"hello").unwrap();
        assert!(!s.windows(5).any(|w| w == b"hello"));
        let p = open(&k, Purpose::Entry, "default", "n", &s).unwrap();
        assert_eq!(p.as_slice(), b"hello");
    }

    #[test]
    fn binding_detects_swaps_and_wrong_keys() {
        let k = key(1).derive("default", Purpose::Entry);
        let s = seal(&k, Purpose::Entry, "default", "a", b"x").unwrap();
        assert_eq!(
            open(&k, Purpose::Entry, "default", "b", &s).err(),
            Some(OpenError::Authentication)
        );
        assert_eq!(
            open(&k, Purpose::Entry, "other", "a", &s).err(),
            Some(OpenError::Authentication)
        );
        assert_eq!(
            open(&k, Purpose::TokenCache, "default", "a", &s).err(),
            Some(OpenError::Authentication)
        );
        let wrong = key(2).derive("default", Purpose::Entry);
        assert_eq!(
            open(&wrong, Purpose::Entry, "default", "a", &s).err(),
            Some(OpenError::Authentication)
        );
    }

    #[test]
    fn damage_is_detected() {
        let k = key(1);
        let s = seal(&k, Purpose::Entry, "w", "a", b"payload").unwrap();
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x40;
            assert!(
                open(&k, Purpose::Entry, "w", "a", &t).is_err(),
                "flip at {i}"
            );
        }
        for len in 0..s.len() {
            assert!(open(&k, Purpose::Entry, "w", "a", &s[..len]).is_err());
        }
        let mut v2 = s.clone();
        v2[4] = 2;
        assert_eq!(
            open(&k, Purpose::Entry, "w", "a", &v2).err(),
            Some(OpenError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn workspaces_derive_different_keys() {
        let m = key(7);
        assert_ne!(
            m.derive("a", Purpose::Entry).expose(),
            m.derive("b", Purpose::Entry).expose()
        );
        assert_ne!(
            m.derive("a", Purpose::Entry).expose(),
            m.derive("a", Purpose::TokenCache).expose()
        );
        assert_eq!(format!("{m:?}"), "Key([REDACTED])");
    }
}
