//! `import --from-beta9`: the registry secrets of one beta9 platform workspace, read from its
//! PostgreSQL database in one read-only transaction and opened with the platform's cipher
//! (docs/records.md, "The platform's workspace secrets"). What is then checked and stored is the
//! import command's, the same as for a record on stdin.

use crate::error::printable;
use crate::error::{Error, Result};
use crate::pg::{SqlType, Target};
use crate::secret::SecretBuf;
use crate::timeout::Deadline;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One registry secret of the platform workspace: its name and its plaintext, or why it does not
/// open (a message that names no value).
pub(crate) struct PlatformSecret {
    pub name: String,
    pub opened: std::result::Result<SecretBuf, &'static str>,
}

/// Every `oci-registry-…`/`oci-creds-…` secret of the workspace whose external id is `external`,
/// oldest first, from the platform database `url` names (`--from-beta9`; the password in
/// `password_file`, never in the URL, which any user can read in the process list).
pub(crate) fn read_workspace(
    url: &str,
    password_file: Option<PathBuf>,
    home: Option<&Path>,
    external: &str,
    budget: Duration,
) -> Result<Vec<PlatformSecret>> {
    let target = Target::parse(url, "--from-beta9", password_file, home)?;
    if target.has_password_in_url() {
        return Err(Error::at(
            "--from-beta9",
            "the URL holds a password, which any user of this machine can read in the process list; put it in a file and pass --beta9-password-file (nothing was imported)",
        ));
    }
    let (signing_key, secrets) = read_platform(&target, external, budget)?;
    Ok(secrets
        .into_iter()
        .map(|(name, value)| PlatformSecret {
            opened: open_platform_secret(&signing_key, &value),
            name,
        })
        .collect())
}

/// The largest platform secret read: a record as large as `import` takes on stdin, sealed and in
/// base64 (4/3 of it), with room to spare (docs/postgres.md, "Size caps").
const SECRET_CAP: usize = 2 * crate::protocol::STDIN_LIMIT;
/// A signing key is `sk_` and 44 base64 characters; this leaves room for whitespace.
const SIGNING_KEY_CAP: usize = 1024;

/// The workspace's signing key and its registry secrets (name, value), oldest first, read in one
/// read-only transaction (docs/records.md, "The platform's workspace secrets").
fn read_platform(
    target: &Target,
    external: &str,
    budget: std::time::Duration,
) -> Result<(SecretString, Vec<(String, String)>)> {
    let deadline = Deadline::start(budget);
    let conn = target.connect(deadline)?;
    let place = target.label();
    conn.batch(deadline, "START TRANSACTION READ ONLY")?;
    let rows = conn.query(
        deadline,
        &format!(
            "SELECT id::bigint, CASE WHEN octet_length(signing_key::text) <= {SIGNING_KEY_CAP} \
                 THEN signing_key::text END, octet_length(signing_key::text) \
                 FROM workspace WHERE external_id::text = $1"
        ),
        &[(&external, SqlType::TEXT)],
    )?;
    let Some(row) = rows.first() else {
        return Err(Error::at(
            place,
            format!("no workspace has the external id {}", printable(external)),
        ));
    };
    let id: i64 = row.get(0);
    let signing_key: Option<String> = row.get(1);
    if signing_key.is_none() && row.get::<_, Option<i32>>(2).is_some() {
        return Err(Error::at(
            place,
            format!(
                "the signing_key of workspace {} is larger than {SIGNING_KEY_CAP} bytes, so it is not one; nothing was imported",
                printable(external)
            ),
        ));
    }
    let signing_key = SecretString::from(signing_key.ok_or_else(|| {
        Error::at(
            place.clone(),
            format!(
                "workspace {} has no signing_key, so its secrets cannot be opened",
                printable(external)
            ),
        )
    })?);
    let rows = conn.query(
        deadline,
        &format!(
            "SELECT name, CASE WHEN octet_length(value) <= {SECRET_CAP} THEN value END, \
                 octet_length(value) FROM workspace_secret WHERE workspace_id = $1 \
                 AND (name LIKE 'oci-registry-%' OR name LIKE 'oci-creds-%') \
                 ORDER BY updated_at NULLS FIRST, name"
        ),
        &[(&id, SqlType::INT8)],
    )?;
    let mut secrets = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = r.get(0);
        // The database checks the size: an oversized value never crosses the wire.
        match r.get::<_, Option<String>>(1) {
            Some(value) => secrets.push((name, value)),
            None => {
                return Err(Error::at(
                    format!(
                        "platform secret {} of workspace {}",
                        printable(&name),
                        printable(external)
                    ),
                    format!(
                        "it holds {} bytes, more than the {SECRET_CAP} a platform secret may have; nothing was imported",
                        r.get::<_, Option<i32>>(2).unwrap_or(0)
                    ),
                ))
            }
        }
    }
    let _ = conn.batch(deadline, "COMMIT");
    Ok((signing_key, secrets))
}

/// The platform's cipher (docs/records.md, "The platform's workspace secrets"): AES-256-GCM, the
/// key the standard-base64 decoding of `signing_key` after its `sk_` prefix, the value standard
/// base64 of nonce (12) ‖ ciphertext ‖ tag (16), no associated data.
fn open_platform_secret(
    signing_key: &SecretString,
    value: &str,
) -> Result<SecretBuf, &'static str> {
    use aes_gcm::aead::{Aead, KeyInit};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded = signing_key
        .expose_secret()
        .strip_prefix("sk_")
        .ok_or("the workspace's signing_key does not start with sk_")?;
    let key = zeroize::Zeroizing::new(
        b64.decode(encoded.trim())
            .map_err(|_| "the workspace's signing_key is not sk_ + standard base64")?,
    );
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key)
        .map_err(|_| "the workspace's signing_key does not hold 32 bytes")?;
    let raw = b64
        .decode(value.trim())
        .map_err(|_| "the value is not standard base64")?;
    if raw.len() < 12 + 16 {
        return Err("the value is too short to be sealed");
    }
    let plain = zeroize::Zeroizing::new(
        cipher
            .decrypt(aes_gcm::Nonce::from_slice(&raw[..12]), &raw[12..])
            .map_err(|_| "cannot decrypt it: wrong signing key or a damaged value")?,
    );
    let mut out = SecretBuf::with_capacity(plain.len());
    let _ = out.write_all(&plain);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/records.md, "The platform's workspace secrets": the vector checked there with Python's
    /// `cryptography`.
    #[test]
    fn the_platforms_cipher_opens_its_vector() {
        let key = SecretString::from("sk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let value = "ZGVmZ2hpamtsbW5vMzm9FByNM/BKCz6EqUdQhmCSR1nYO7wg4/OWaouBiWrBugWSAlPWQd/JWkrfP+btaT7/jlM+M1HYy46zl+DI+mTp9W25JhkpqRuUM3SoC8QGGWxdxOfwzkfPfb2cbZdG5cFXrexncg==";
        let plain = open_platform_secret(&key, value).unwrap();
        assert_eq!(
            plain.as_slice(),
            br#"{"credentials":{"PASSWORD":"p","USERNAME":"u"},"registry":"example.com","type":"basic"}"#
        );
        // Any other key, or a flipped byte, fails the tag check.
        let wrong = SecretString::from("sk_AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert!(open_platform_secret(&wrong, value)
            .unwrap_err()
            .contains("wrong signing key"));
        let mut flipped = value.as_bytes().to_vec();
        flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(open_platform_secret(&key, &flipped).is_err());
        for bad in ["AAECAwQF", "sk_!!", "sk_AAECAwQF"] {
            assert!(
                open_platform_secret(&SecretString::from(bad), value).is_err(),
                "{bad}"
            );
        }
        assert!(open_platform_secret(&key, "ZGVm").is_err());
    }
}
