//! The design documents' credential record: `{"version":1,"registry","type","credentials"}`, plus
//! reading the shape beta9 actually ships (no `version`; types `basic`/`token`/`public`/...), and
//! the stored entry around it (docs/records.md). The serialisers here are the only code that
//! writes a record's values out (`export` and the store's plaintext).

use crate::credential_type::{CredentialType, AMBIENT, AWS_CREDENTIALS_SOURCE, AWS_PROFILE};
use crate::detect;
use crate::registry::Registry;
use crate::secret::SecretBuf;
use secrecy::{ExposeSecret, SecretString};
use serde::ser::{SerializeMap, Serializer as _};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

pub(crate) const RECORD_VERSION: u32 = 1;

/// Credential values by variable name. Values are secrets: redacted in `Debug`, zeroed on drop.
#[derive(Default, Deserialize)]
#[serde(transparent)]
pub struct Credentials(BTreeMap<String, SecretString>);

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    pub fn insert(&mut self, name: &str, value: SecretString) {
        self.0.insert(name.to_string(), value);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    /// A value that is present and not empty.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name).filter(|v| !v.expose_secret().is_empty())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

/// One registry's credentials.
#[derive(Debug)]
pub struct Record {
    pub registry: Registry,
    pub kind: CredentialType,
    pub credentials: Credentials,
}

/// The record as found on the wire: both the documents' format and beta9's shipped one.
#[derive(Deserialize)]
struct RawRecord {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    registry: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    credentials: Option<Credentials>,
}

/// Why a record or a stored entry cannot be used: the one wording of each reason, naming a field
/// or a position, never a value from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("malformed record JSON at line {line}, column {column}")]
    MalformedRecord { line: usize, column: usize },
    #[error("malformed entry at line {line}, column {column}")]
    MalformedEntry { line: usize, column: usize },
    #[error("unsupported record version {0} (this helper reads 1)")]
    Version(u32),
    /// The record's `registry` is not a registry name (the reason says why, quoting nothing).
    #[error("the record's registry is {0}")]
    Registry(String),
    #[error("record has no registry")]
    NoRegistry,
    #[error("record has no type")]
    NoType,
    /// Never quotes the declared type: a malformed record may hold anything in that field.
    #[error("unknown credential type (expected aws, gcp, azure, dockerhub, ghcr, ngc or generic)")]
    UnknownType,
    #[error("record is for a public registry: no credentials to store")]
    Public,
    /// A beta9 type (`basic`, `token`, ... or `(none)`) whose names detect no supported type.
    #[error("cannot map beta9 type {0} with these credential names to a supported type")]
    Unmappable(String),
    #[error(
        "{name} is not {} {kind} credential name (expected one of: {})",
        kind.article(),
        kind.names().join(", ")
    )]
    Foreign { name: String, kind: CredentialType },
    /// A name the record's type needs (`add`, import, and each resolver say it the same way).
    #[error("{} {kind} record needs {name}", kind.article())]
    Missing { kind: CredentialType, name: String },
    #[error("{AWS_PROFILE} is only used with {AWS_CREDENTIALS_SOURCE}={AMBIENT}; a record with stored keys takes no profile")]
    AwsProfileWithKeys,
    #[error("{AWS_CREDENTIALS_SOURCE} must be {AMBIENT} (keys from the environment, ~/.aws profiles, web identity, container or EC2 instance metadata); to use stored keys, remove it")]
    AwsSourceNotAmbient,
    #[error("{AWS_CREDENTIALS_SOURCE}={AMBIENT} and {0} conflict: give stored keys or the ambient opt-in, not both")]
    AwsAmbientAndKeys(&'static str),
    #[error("{AWS_PROFILE} is empty")]
    AwsEmptyProfile,
}

impl RecordError {
    /// [`RecordError::Missing`].
    pub(crate) fn missing(kind: CredentialType, name: &str) -> RecordError {
        RecordError::Missing {
            kind,
            name: name.to_string(),
        }
    }
}

impl Record {
    /// Decodes a record in either format, normalising its `registry` as a registry name (a
    /// single label such as `artifactory` is that host, never Docker Hub). `fallback_registry` is
    /// used when the JSON has none (beta9's flat maps). Errors never quote the input.
    pub fn decode(
        json: &[u8],
        fallback_registry: Option<&Registry>,
    ) -> Result<Record, RecordError> {
        Self::decode_as(json, fallback_registry, |r| {
            Registry::from_server_url(r).map_err(|e| RecordError::Registry(e.to_string()))
        })
    }

    /// Decodes a record this helper wrote: its `registry` is already canonical and kept verbatim
    /// (repository-path keys and Hub's OAuth keys must not be re-normalised).
    pub fn decode_stored(json: &[u8]) -> Result<Record, RecordError> {
        Self::decode_as(json, None, |r| Ok(Registry::from_canonical(r)))
    }

    fn decode_as(
        json: &[u8],
        fallback_registry: Option<&Registry>,
        normalise: fn(&str) -> Result<Registry, RecordError>,
    ) -> Result<Record, RecordError> {
        let raw: RawRecord =
            serde_json::from_slice(json).map_err(|e| RecordError::MalformedRecord {
                line: e.line(),
                column: e.column(),
            })?;
        if let Some(v) = raw.version {
            if v != RECORD_VERSION {
                return Err(RecordError::Version(v));
            }
        }
        let registry = match (&raw.registry, fallback_registry) {
            (Some(r), _) if !r.trim().is_empty() => normalise(r)?,
            (_, Some(r)) => r.clone(),
            _ => return Err(RecordError::NoRegistry),
        };
        let credentials = raw.credentials.unwrap_or_default();
        let declared = raw.kind.as_deref().unwrap_or("");
        let kind = normalise_type(declared, raw.version.is_some(), &registry, &credentials)?;
        Ok(Record {
            registry,
            kind,
            credentials,
        })
    }

    /// Checks the record holds what its type needs and nothing foreign to it.
    pub fn validate(&self) -> Result<(), RecordError> {
        if let Some(unknown) = self
            .credentials
            .names()
            .find(|n| !self.kind.names().contains(n))
        {
            return Err(RecordError::Foreign {
                name: unknown.to_string(),
                kind: self.kind,
            });
        }
        if let Some(missing) = self.kind.missing(&|n| self.credentials.contains(n)) {
            return Err(RecordError::missing(self.kind, missing));
        }
        if self.kind == CredentialType::Aws {
            aws_ambient(&self.credentials)?;
        }
        Ok(())
    }
}

/// The names that hold key material, which the ambient form must not have.
const AWS_KEY_NAMES: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Which form an aws record has: `Ok(true)` for `AWS_CREDENTIALS_SOURCE=ambient` (no keys, an
/// optional `AWS_PROFILE`), `Ok(false)` for stored keys (no `AWS_PROFILE`). Mixing the two is an
/// error: a record must say unambiguously where its keys come from. Errors quote no value.
pub(crate) fn aws_ambient(c: &Credentials) -> Result<bool, RecordError> {
    let Some(source) = c.get(AWS_CREDENTIALS_SOURCE) else {
        if c.contains(AWS_PROFILE) {
            return Err(RecordError::AwsProfileWithKeys);
        }
        return Ok(false);
    };
    if !source.expose_secret().eq_ignore_ascii_case(AMBIENT) {
        return Err(RecordError::AwsSourceNotAmbient);
    }
    if let Some(key) = AWS_KEY_NAMES.iter().find(|n| c.contains(n)) {
        return Err(RecordError::AwsAmbientAndKeys(key));
    }
    if c.get(AWS_PROFILE)
        .is_some_and(|p| p.expose_secret().trim().is_empty())
    {
        return Err(RecordError::AwsEmptyProfile);
    }
    Ok(true)
}

/// Maps a declared type to one of the seven. Version-1 records must use the seven names; beta9's
/// records (no version) use `basic`/`token`/`public`/`azure`/`unknown` (docs/records.md,
/// "Mapping shipped types"). A shipped `azure` goes through detection like `basic`: with
/// `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` (the pair beta9 itself tests) it is our `azure`;
/// a shipped `azure` record holding `USERNAME`/`PASSWORD` (an ACR admin or token login) is
/// `generic`, answered as stored.
fn normalise_type(
    declared: &str,
    versioned: bool,
    registry: &Registry,
    creds: &Credentials,
) -> Result<CredentialType, RecordError> {
    match CredentialType::parse(declared) {
        Some(CredentialType::Azure) if !versioned => {}
        Some(t) => return Ok(t),
        None => {}
    }
    if versioned || declared.is_empty() && creds.is_empty() {
        return Err(if declared.is_empty() {
            RecordError::NoType
        } else {
            RecordError::UnknownType
        });
    }
    match declared {
        "public" => Err(RecordError::Public),
        "basic" | "token" | "azure" | "unknown" | "" => {
            let names: Vec<&str> = creds.names().collect();
            match detect::detect(registry, &names) {
                Some(t) if t.missing(&|n| creds.contains(n)).is_none() => Ok(t),
                _ => Err(RecordError::Unmappable(
                    if declared.is_empty() {
                        "(none)"
                    } else {
                        declared
                    }
                    .to_string(),
                )),
            }
        }
        _ => Err(RecordError::UnknownType),
    }
}

/// What an entry carries about its own life, sealed with the record in the entry's plaintext so
/// that editing the file cannot extend or relabel it (docs/storage.md, "Entry lifecycle").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    /// Unix seconds after which the entry answers as absent; `None` is permanent.
    pub expires_at: Option<u64>,
    /// What wrote it: `add`, `store`, `import`, `beta9:<workspace id>`; `None` before this was
    /// recorded.
    pub origin: Option<String>,
    /// For a lifecycle about to be written: the expiry counts from the write itself (its
    /// `updated_at`), not from when the command started, which a `--verify` or a held store
    /// lock can put seconds earlier. Not stored.
    expires_in: Option<u64>,
}

impl Lifecycle {
    /// Written by `origin` at `now`, expiring `expires_in` seconds later (permanent if `None`).
    pub(crate) fn new(origin: &str, expires_in: Option<u64>, now: u64) -> Lifecycle {
        Lifecycle {
            expires_at: expires_in.map(|s| now.saturating_add(s)),
            origin: Some(origin.to_string()),
            expires_in,
        }
    }
}

/// A decrypted entry: the record and what `list`/`ls` show about it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub record: Record,
    /// The ServerURL docker gave to `store`, reported back by `list` (docs/clients.md).
    pub server_url: Option<String>,
    pub updated_at: u64,
    pub life: Lifecycle,
}

impl Entry {
    pub(crate) fn list_key(&self) -> String {
        self.server_url
            .clone()
            .unwrap_or_else(|| self.record.registry.list_key())
    }

    /// Past its expiry: `get` answers as if it were absent and `prune` deletes it.
    pub(crate) fn expired(&self, now: u64) -> bool {
        self.life.expires_at.is_some_and(|t| t <= now)
    }

    /// Decodes a stored entry's plaintext. Errors give a position or a reason, never content.
    pub(crate) fn decode(plaintext: &[u8]) -> Result<Entry, RecordError> {
        #[derive(Deserialize)]
        struct RawEntry<'a> {
            #[serde(default)]
            updated_at: u64,
            #[serde(default)]
            server_url: Option<String>,
            #[serde(default)]
            expires_at: Option<u64>,
            #[serde(default)]
            origin: Option<String>,
            #[serde(borrow)]
            record: &'a serde_json::value::RawValue,
        }
        let raw: RawEntry =
            serde_json::from_slice(plaintext).map_err(|e| RecordError::MalformedEntry {
                line: e.line(),
                column: e.column(),
            })?;
        let record = Record::decode_stored(raw.record.get().as_bytes())?;
        Ok(Entry {
            record,
            server_url: raw.server_url,
            updated_at: raw.updated_at,
            life: Lifecycle {
                expires_at: raw.expires_at,
                origin: raw.origin,
                expires_in: None,
            },
        })
    }
}

/// The design documents' record JSON, the value of one secret (what `export` prints).
pub(crate) fn record_json(record: &Record) -> SecretBuf {
    let mut out = SecretBuf::with_capacity(estimate(record));
    let mut ser = serde_json::Serializer::new(&mut out);
    let write = write_record(&mut ser, record);
    debug_assert!(write.is_ok());
    out
}

/// The stored plaintext: the record plus the metadata `list` and `ls` need, and its
/// [`Lifecycle`] (absent members for a permanent entry of unknown origin, as before).
pub(crate) fn entry_json(
    record: &Record,
    server_url: Option<&str>,
    updated_at: u64,
    life: &Lifecycle,
) -> SecretBuf {
    let mut out = SecretBuf::with_capacity(estimate(record) + 192);
    let write = (|| -> io::Result<()> {
        out.write_all(b"{\"updated_at\":")?;
        out.write_all(updated_at.to_string().as_bytes())?;
        if let Some(url) = server_url {
            out.write_all(b",\"server_url\":")?;
            serde_json::to_writer(&mut out, url)?;
        }
        let expires_at = life
            .expires_in
            .map(|s| updated_at.saturating_add(s))
            .or(life.expires_at);
        if let Some(t) = expires_at {
            out.write_all(b",\"expires_at\":")?;
            out.write_all(t.to_string().as_bytes())?;
        }
        if let Some(origin) = &life.origin {
            out.write_all(b",\"origin\":")?;
            serde_json::to_writer(&mut out, origin)?;
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
    map.serialize_entry("version", &RECORD_VERSION)?;
    map.serialize_entry("registry", record.registry.as_str())?;
    map.serialize_entry("type", record.kind.as_str())?;
    map.serialize_entry("credentials", &ExposedCredentials(record))?;
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documents_format() {
        let json = br#"{"version":1,"registry":"111111111111.dkr.ecr.us-east-1.amazonaws.com","type":"aws",
            "credentials":{"AWS_ACCESS_KEY_ID":"AKIAEXAMPLE","AWS_SECRET_ACCESS_KEY":"s","AWS_REGION":"us-east-1"},
            "extra":"ignored"}"#;
        let r = Record::decode(json, None).unwrap();
        assert_eq!(r.kind, CredentialType::Aws);
        assert_eq!(
            r.registry.as_str(),
            "111111111111.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(r.credentials.len(), 3);
        r.validate().unwrap();
    }

    #[test]
    fn decodes_beta9_shipped_format() {
        let basic = br#"{"credentials":{"DOCKERHUB_USERNAME":"u","DOCKERHUB_PASSWORD":"p"},"registry":"docker.io","type":"basic"}"#;
        assert_eq!(
            Record::decode(basic, None).unwrap().kind,
            CredentialType::Dockerhub
        );
        let token = br#"{"credentials":{"NGC_API_KEY":"k"},"registry":"nvcr.io","type":"token"}"#;
        assert_eq!(
            Record::decode(token, None).unwrap().kind,
            CredentialType::Ngc
        );
        let gh = br#"{"credentials":{"GITHUB_TOKEN":"t"},"registry":"ghcr.io","type":"token"}"#;
        assert_eq!(Record::decode(gh, None).unwrap().kind, CredentialType::Ghcr);
        let generic = br#"{"credentials":{"USERNAME":"u","PASSWORD":"p"},"registry":"registry.example.com:5000","type":"basic"}"#;
        assert_eq!(
            Record::decode(generic, None).unwrap().kind,
            CredentialType::Generic
        );
        let public = br#"{"credentials":{},"registry":"docker.io","type":"public"}"#;
        assert!(Record::decode(public, None).is_err());
    }

    #[test]
    fn azure_records_in_both_formats() {
        let shipped = br#"{"registry":"myacr.azurecr.io","type":"azure","credentials":{"AZURE_CLIENT_ID":"00000000-1111-2222-3333-444444444444","AZURE_CLIENT_SECRET":"CANARY-azure","AZURE_TENANT_ID":"t"}}"#;
        let r = Record::decode(shipped, None).unwrap();
        assert_eq!(r.kind, CredentialType::Azure);
        assert_eq!(r.registry.as_str(), "myacr.azurecr.io");
        r.validate().unwrap();
        let v: serde_json::Value = serde_json::from_slice(record_json(&r).as_slice()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version":1,"registry":"myacr.azurecr.io","type":"azure",
                "credentials":{"AZURE_CLIENT_ID":"00000000-1111-2222-3333-444444444444",
                               "AZURE_CLIENT_SECRET":"CANARY-azure","AZURE_TENANT_ID":"t"}})
        );
        // What we write reads back as the same record.
        let again = Record::decode(record_json(&r).as_slice(), None).unwrap();
        assert_eq!(again.kind, CredentialType::Azure);
        assert!(!format!("{r:?}").contains("CANARY"));

        // Shipped, without the tenant: still azure (ACR needs only the pair).
        let no_tenant = br#"{"registry":"myacr.azurecr.io","type":"azure","credentials":{"AZURE_CLIENT_ID":"c","AZURE_CLIENT_SECRET":"s"}}"#;
        assert_eq!(
            Record::decode(no_tenant, None).unwrap().kind,
            CredentialType::Azure
        );
        // Shipped `azure` with a plain login: generic, answered as stored.
        let admin = br#"{"registry":"myacr.azurecr.io","type":"azure","credentials":{"USERNAME":"myacr","PASSWORD":"p"}}"#;
        assert_eq!(
            Record::decode(admin, None).unwrap().kind,
            CredentialType::Generic
        );
        // Shipped `azure` with half a service principal: refused, naming no value.
        let half = br#"{"registry":"x.example","type":"azure","credentials":{"AZURE_CLIENT_SECRET":"SEKRIT"}}"#;
        let err = Record::decode(half, None).unwrap_err().to_string();
        assert!(
            err.contains("beta9 type azure") && !err.contains("SEKRIT"),
            "{err}"
        );
        // Version 1 with half a service principal decodes, and validate names what is missing.
        let v1 = br#"{"version":1,"registry":"myacr.azurecr.io","type":"azure","credentials":{"AZURE_CLIENT_ID":"c"}}"#;
        let r = Record::decode(v1, None).unwrap();
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("AZURE_CLIENT_SECRET"));
        // A name of another type in an azure record is foreign.
        let mixed = br#"{"version":1,"registry":"myacr.azurecr.io","type":"azure","credentials":{"AZURE_CLIENT_ID":"c","AZURE_CLIENT_SECRET":"s","PASSWORD":"p"}}"#;
        let err = Record::decode(mixed, None)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PASSWORD is not an azure credential name"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_versions_and_types_without_quoting_values() {
        let v2 = br#"{"version":2,"registry":"ghcr.io","type":"ghcr","credentials":{}}"#;
        assert!(Record::decode(v2, None)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let bad = br#"{"version":1,"registry":"ghcr.io","type":"basic","credentials":{}}"#;
        assert!(Record::decode(bad, None).is_err());
        let err = Record::decode(br#"{"credentials":{"X":SEKRIT}}"#, None)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SEKRIT"), "{err}");
    }

    #[test]
    fn validate_names_missing_and_foreign_variables() {
        let r = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_USERNAME":"u"}}"#,
            None,
        )
        .unwrap();
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("GITHUB_TOKEN"));
        let r = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t","AWS_REGION":"x"}}"#,
            None,
        )
        .unwrap();
        assert!(r.validate().unwrap_err().to_string().contains("AWS_REGION"));
    }

    #[test]
    fn aws_records_hold_stored_keys_or_the_ambient_opt_in_never_both() {
        let aws = |creds: &str| {
            Record::decode(
                format!(
                    r#"{{"version":1,"registry":"111111111111.dkr.ecr.us-east-1.amazonaws.com","type":"aws","credentials":{creds}}}"#
                )
                .as_bytes(),
                None,
            )
            .unwrap()
            .validate()
        };
        // Stored keys, as before.
        aws(r#"{"AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","AWS_REGION":"us-east-1"}"#)
            .unwrap();
        // The opt-in, any case, with or without a profile (and a harmless region).
        for form in [
            r#"{"AWS_CREDENTIALS_SOURCE":"ambient"}"#,
            r#"{"AWS_CREDENTIALS_SOURCE":"AMBIENT","AWS_PROFILE":"ci"}"#,
            r#"{"AWS_CREDENTIALS_SOURCE":"Ambient","AWS_REGION":"us-east-1"}"#,
        ] {
            aws(form).unwrap();
        }
        // Both forms at once: refused, naming the conflicting name.
        for key in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            let e = aws(&format!(
                r#"{{"AWS_CREDENTIALS_SOURCE":"ambient","{key}":"SEKRIT"}}"#
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains("conflict") && e.contains(key), "{e}");
            assert!(!e.contains("SEKRIT"), "{e}");
        }
        // Any other value is refused without being quoted.
        let e = aws(r#"{"AWS_CREDENTIALS_SOURCE":"imds-SEKRIT"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("must be ambient") && !e.contains("SEKRIT"),
            "{e}"
        );
        // A profile only goes with the opt-in; an empty one is refused.
        let e = aws(r#"{"AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b","AWS_PROFILE":"ci"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWS_PROFILE is only used with"), "{e}");
        assert!(aws(r#"{"AWS_CREDENTIALS_SOURCE":"ambient","AWS_PROFILE":" "}"#).is_err());
        // Neither form: the keys are what is missing.
        let e = aws(r#"{"AWS_REGION":"us-east-1"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs AWS_ACCESS_KEY_ID"), "{e}");
    }

    #[test]
    fn entries_round_trip_through_their_serialiser() {
        let r = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t<&>"}}"#,
            None,
        )
        .unwrap();
        let plain = entry_json(&r, Some("https://ghcr.io"), 42, &Lifecycle::default());
        let e = Entry::decode(plain.as_slice()).unwrap();
        assert_eq!(e.updated_at, 42);
        assert_eq!(e.life, Lifecycle::default());
        assert!(!e.expired(u64::MAX));
        let life = Lifecycle::new("import", Some(90), 1000);
        let timed = Entry::decode(entry_json(&r, None, 1000, &life).as_slice()).unwrap();
        assert_eq!(timed.life.expires_at, Some(1090));
        assert_eq!(timed.life.origin.as_deref(), Some("import"));
        assert!(!timed.expired(1089) && timed.expired(1090));
        // Written 7 s after the command read the clock (a --verify, a held lock): the expiry
        // still counts from the write, as `updated_at` shows it.
        let late = Entry::decode(entry_json(&r, None, 1007, &life).as_slice()).unwrap();
        assert_eq!(late.life.expires_at, Some(1097));
        // A decoded entry written again (rekey) keeps its expiry.
        let again = Entry::decode(entry_json(&r, None, 5000, &late.life).as_slice()).unwrap();
        assert_eq!(again.life.expires_at, Some(1097));
        assert_eq!(e.list_key(), "https://ghcr.io");
        assert_eq!(
            e.record
                .credentials
                .get("GITHUB_TOKEN")
                .unwrap()
                .expose_secret(),
            "t<&>"
        );
        let v: serde_json::Value = serde_json::from_slice(record_json(&r).as_slice()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["credentials"]["GITHUB_TOKEN"], "t<&>");
        assert!(Entry::decode(b"{\"record\":SEKRIT}")
            .unwrap_err()
            .to_string()
            .contains("line 1"));
    }

    #[test]
    fn debug_is_redacted() {
        let r = Record::decode(
            br#"{"version":1,"registry":"nvcr.io","type":"ngc","credentials":{"NGC_API_KEY":"CANARY-debug"}}"#,
            None,
        )
        .unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("NGC_API_KEY"));
    }

    #[test]
    fn record_errors_are_typed_and_worded_once() {
        let err = |json: &str| Record::decode(json.as_bytes(), None).unwrap_err();
        assert_eq!(err(r#"{"type":"ghcr"}"#), RecordError::NoRegistry);
        assert_eq!(
            err(r#"{"version":1,"registry":"r.io","type":"s3cret"}"#),
            RecordError::UnknownType
        );
        let e = err(r#"{"version":2,"registry":"r.io"}"#);
        assert_eq!(
            (&e, e.to_string().as_str()),
            (
                &RecordError::Version(2),
                "unsupported record version 2 (this helper reads 1)"
            )
        );
        let e = err("{\"registry\":");
        assert!(
            matches!(e, RecordError::MalformedRecord { line: 1, .. }),
            "{e}"
        );
        let rec = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_USERNAME":"u"}}"#,
            None,
        )
        .unwrap();
        let e = rec.validate().unwrap_err();
        assert_eq!(
            e,
            RecordError::missing(CredentialType::Ghcr, "GITHUB_TOKEN")
        );
        assert_eq!(e.to_string(), "a ghcr record needs GITHUB_TOKEN");
        assert_eq!(
            RecordError::missing(CredentialType::Aws, "AWS_REGION").to_string(),
            "an aws record needs AWS_REGION"
        );
    }
}
