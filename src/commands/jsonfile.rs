//! Minimal-diff edits of a client's JSON config (docker's config.json, containers' auth.json).
//!
//! The top-level object is kept as an ordered list of keys and raw value text, so every member
//! we do not touch is written back byte for byte, in its place, with its formatting (docker
//! itself writes tab-indented JSON; a serde_json `Value` would sort keys and reindent). Only
//! `credHelpers` is re-rendered, and only when it changes. Which members are `credHelpers` and
//! `auths` is decided by `clients::config::Member`, Go's rules, the same reader doctor uses
//! (docs/clients.md, "Key rules of config.json").

use crate::clients::config::{self as cc, Member, SECRET_FIELDS};
use crate::error::NotJsonObject;
use crate::fsutil;
use crate::secret::SecretBuf;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub(crate) struct Document {
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

/// Why a client file cannot be read, parsed or replaced as docker reads it, or why an `auths` entry
/// holds no usable login: each reason worded once, naming a member, a field or a path, never a
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientFileError {
    #[error("it is a symbolic link")]
    SymbolicLink,
    /// `op` (open, stat, read) failed with this kind.
    #[error("cannot {op} it ({kind})")]
    Io {
        op: &'static str,
        kind: std::io::ErrorKind,
    },
    #[error("it is not a regular file (a FIFO, device or directory)")]
    NotRegular,
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error("cannot follow the link ({0})")]
    FollowLink(std::io::ErrorKind),
    /// The link leads to a file of another user than the config's (`user`, when known).
    #[error(
        "it leads through a symbolic link to {target}, which belongs to uid {owner}, not to the config's owner{}; replace the link with a file, or run as that user",
        user.map(|u| format!(" (uid {u})")).unwrap_or_default()
    )]
    ForeignLink {
        target: String,
        owner: u32,
        user: Option<u32>,
    },
    #[error("cannot stat where its link leads")]
    LinkUnstattable,
    #[error("it has {0} hard links, and replacing it would leave the other names with the old content (remove the other links, or edit it by hand)")]
    HardLinks(u64),
    #[error("it is larger than {mib} MiB")]
    TooLarge { mib: usize },
    /// The directory could not be made (the store's own one-line reason).
    #[error("{0}")]
    Directory(String),
    #[error("cannot give {dir} to its owner: {why}")]
    Chown { dir: String, why: String },
    #[error("cannot write {file}: {why}")]
    Write { file: String, why: String },
    #[error("cannot keep the owner and group of {file} (uid {uid}, gid {gid}): {why}; the file was left untouched")]
    KeepOwner {
        file: String,
        uid: u32,
        gid: u32,
        why: String,
    },
    #[error(transparent)]
    NotJson(#[from] NotJsonObject),
    /// A member Go decodes into an object field holds something else.
    #[error("{} {what}", member.name())]
    Member { member: Member, what: &'static str },
    #[error("cannot render {0}")]
    Render(&'static str),
    #[error("the entry is not an object of strings")]
    EntryNotObject,
    #[error("its auth value is not base64")]
    AuthNotBase64,
    #[error("its auth value is not text")]
    AuthNotText,
    #[error("its auth value is not user:password")]
    AuthNotPair,
    #[error("its auth value has no username")]
    AuthNoUsername,
    #[error("it has a password but no username")]
    PasswordWithoutUsername,
    #[error("it holds a registrytoken (a bearer token for one registry session), which no credential helper can keep")]
    RegistryToken,
}

impl Document {
    /// Parses a config file's text. Empty text is an empty object (docker treats it so). Errors
    /// give a position only: the file may hold `auths` secrets.
    pub(crate) fn parse(text: &str) -> Result<Document, ClientFileError> {
        if text.trim().is_empty() {
            return Ok(Document {
                members: Vec::new(),
                indent: "\t".into(),
                trailing_newline: true,
            });
        }
        let Members(members) = serde_json::from_str(text).map_err(|e| NotJsonObject::at(&e))?;
        Ok(Document {
            members,
            // docker writes a tab; a one-line file gets one too.
            indent: crate::provider_config::first_member_indent(text, "\t"),
            trailing_newline: text.ends_with('\n'),
        })
    }

    /// The indexes of the members Go decodes into `field`, in file order.
    fn members_of(&self, field: Member) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| Member::of(&self.members[i].0) == Some(field))
            .collect()
    }

    /// One object member as Go sees it: every member naming it merged in file order
    /// ([`cc::merge_object`]).
    fn merged<T>(
        &self,
        field: Member,
        decode: impl Fn(&str) -> Result<Vec<(String, T)>, ()>,
        what: &'static str,
    ) -> Result<Vec<(String, T)>, ClientFileError> {
        let mut out = Vec::new();
        for i in self.members_of(field) {
            let raw = self.members[i].1.get();
            let next = if raw.trim() == "null" {
                None
            } else {
                Some(decode(raw).map_err(|()| ClientFileError::Member {
                    member: field,
                    what,
                })?)
            };
            cc::merge_object(&mut out, next);
        }
        Ok(out)
    }

    /// The `credHelpers` entries as docker reads them: every member Go takes for `credHelpers`
    /// (any case), merged.
    pub(crate) fn cred_helpers(&self) -> Result<Vec<(String, String)>, ClientFileError> {
        self.merged(
            Member::CredHelpers,
            |raw| {
                serde_json::from_str::<Helpers>(raw)
                    .map(|h| h.0)
                    .map_err(drop)
            },
            "is not an object of strings",
        )
    }

    /// Replaces (or appends) `credHelpers`.
    pub(crate) fn set_cred_helpers(
        &mut self,
        helpers: &[(String, String)],
    ) -> Result<(), ClientFileError> {
        let entries: Vec<(String, String)> =
            helpers.iter().map(|(k, v)| (k.clone(), quote(v))).collect();
        self.set_object(Member::CredHelpers, &entries)
    }

    /// Is `field` in at most one member, spelled as docker writes it? Otherwise Go and docker-py
    /// read different things (docker-py reads only that spelling).
    pub(crate) fn is_canonical(&self, field: Member) -> bool {
        match self.members_of(field).as_slice() {
            [] => true,
            [i] => self.members[*i].0 == field.name(),
            _ => false,
        }
    }

    /// Writes the merged object into the last member Go takes for `field`, in its place and
    /// named as docker writes it (so docker-py reads it too), or appends one; the earlier members
    /// of that field, whose entries it now holds, are dropped. Each value is given as JSON text,
    /// kept as it is.
    fn set_object(
        &mut self,
        field: Member,
        entries: &[(String, String)],
    ) -> Result<(), ClientFileError> {
        let key = field.name();
        let i = &self.indent;
        let mut text = String::from("{");
        for (n, (k, v)) in entries.iter().enumerate() {
            text.push_str(if n == 0 { "\n" } else { ",\n" });
            text.push_str(&format!("{i}{i}{}: {v}", quote(k)));
        }
        text.push_str(&format!("\n{i}}}"));
        if entries.is_empty() {
            text = "{}".into();
        }
        let raw = RawValue::from_string(text).map_err(|_| ClientFileError::Render(key))?;
        let mut at = self.members_of(field);
        match at.pop() {
            Some(last) => {
                self.members[last] = (key.to_string(), raw);
                for i in at.into_iter().rev() {
                    self.members.remove(i);
                }
            }
            None => self.members.push((key.to_string(), raw)),
        }
        Ok(())
    }

    /// The `auths` entries (key, entry JSON) as docker reads them, merged like `credHelpers`;
    /// empty when there is none.
    pub(crate) fn auths(&self) -> Result<Vec<(String, Box<RawValue>)>, ClientFileError> {
        self.merged(
            Member::Auths,
            |raw| {
                serde_json::from_str::<Members>(raw)
                    .map(|m| m.0)
                    .map_err(drop)
            },
            "is not an object",
        )
    }

    /// Replaces `auths` with these entries (each kept byte for byte).
    pub(crate) fn set_auths(
        &mut self,
        entries: &[(String, Box<RawValue>)],
    ) -> Result<(), ClientFileError> {
        let entries: Vec<(String, String)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.get().to_string()))
            .collect();
        self.set_object(Member::Auths, &entries)
    }

    /// A copy for the `.bak`: every `auths` entry without its secret members (a backup must
    /// never hold a plaintext credential; the file itself, or the store, keeps it).
    pub(crate) fn without_auth_secrets(&self) -> Result<Document, ClientFileError> {
        let mut out = Document {
            members: self.members.clone(),
            indent: self.indent.clone(),
            trailing_newline: self.trailing_newline,
        };
        if self.members_of(Member::Auths).is_empty() {
            return Ok(out);
        }
        let mut kept = Vec::new();
        for (key, raw) in self.auths()? {
            // Not an object: it holds no named secret; dropped rather than copied.
            if let Ok(Members(fields)) = serde_json::from_str::<Members>(raw.get()) {
                let fields: Vec<(String, String)> = fields
                    .into_iter()
                    .filter(|(k, _)| !SECRET_FIELDS.iter().any(|f| cc::go_name_eq(k, f)))
                    .map(|(k, v)| (k, v.get().to_string()))
                    .collect();
                let body = fields
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", quote(k)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let text = format!("{{{body}}}");
                let raw =
                    RawValue::from_string(text).map_err(|_| ClientFileError::Render("auths"))?;
                kept.push((key, raw));
            }
        }
        out.set_auths(&kept)?;
        Ok(out)
    }

    /// The file text: untouched members verbatim, in their order.
    pub(crate) fn render(&self) -> String {
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

/// A plaintext login found in an `auths` entry, ready for the store.
pub(crate) struct PlainLogin {
    pub username: String,
    pub secret: SecretString,
}

impl fmt::Debug for PlainLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainLogin { [REDACTED] }")
    }
}

/// The login an `auths` entry holds, read as docker reads it (docker/cli `configfile`): an
/// `identitytoken` wins (kept as docker's helpers keep it, username `<token>`); else `auth`
/// (base64 of `user:password`); else `username` and `password`. `Ok(None)`: no secret in it.
/// Errors say what is wrong, never a value.
pub(crate) fn decode_login(entry: &RawValue) -> Result<Option<PlainLogin>, ClientFileError> {
    let fields: EntryFields =
        serde_json::from_str(entry.get()).map_err(|_| ClientFileError::EntryNotObject)?;
    let non_empty = |v: &Option<SecretString>| {
        v.as_ref()
            .filter(|s| !s.expose_secret().is_empty())
            .cloned()
    };
    if let Some(t) = non_empty(&fields.identitytoken) {
        return Ok(Some(PlainLogin {
            username: "<token>".into(),
            secret: t,
        }));
    }
    if let Some(auth) = non_empty(&fields.auth) {
        use base64::Engine as _;
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth.expose_secret().trim())
                .map_err(|_| ClientFileError::AuthNotBase64)?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| ClientFileError::AuthNotText)?;
        let (user, pass) = text.split_once(':').ok_or(ClientFileError::AuthNotPair)?;
        if user.is_empty() {
            return Err(ClientFileError::AuthNoUsername);
        }
        return Ok(Some(PlainLogin {
            username: user.to_string(),
            secret: SecretString::from(pass),
        }));
    }
    match (non_empty(&fields.username), non_empty(&fields.password)) {
        (Some(u), Some(p)) => Ok(Some(PlainLogin {
            username: u.expose_secret().to_string(),
            secret: p,
        })),
        (None, Some(_)) => Err(ClientFileError::PasswordWithoutUsername),
        _ if non_empty(&fields.registrytoken).is_some() => Err(ClientFileError::RegistryToken),
        _ => Ok(None),
    }
}

/// The members of an `auths` entry that carry a login; Go matches names without regard to case.
struct EntryFields {
    auth: Option<SecretString>,
    identitytoken: Option<SecretString>,
    registrytoken: Option<SecretString>,
    username: Option<SecretString>,
    password: Option<SecretString>,
}

impl<'de> Deserialize<'de> for EntryFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EntryFields, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntryFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an auth entry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryFields, A::Error> {
                let mut out = EntryFields {
                    auth: None,
                    identitytoken: None,
                    registrytoken: None,
                    username: None,
                    password: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.to_ascii_lowercase().as_str() {
                        "auth" => &mut out.auth,
                        "identitytoken" => &mut out.identitytoken,
                        "registrytoken" => &mut out.registrytoken,
                        "username" => &mut out.username,
                        "password" => &mut out.password,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<Option<SecretString>>()?;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// What is kept of a client file that is rewritten: its mode, owner and group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A client file's bytes (zeroized after use: `auths` may hold passwords) and what to keep of
/// it, or `None` when it does not exist. The type is checked on the open file before anything is
/// read: no link followed, a FIFO or device never waited on, a directory refused; and a file with
/// more than one hard link is refused, since replacing it would leave the other names with the old
/// content.
pub(crate) fn read_client_file(
    path: &Path,
    limit: usize,
) -> Result<Option<(SecretBuf, FileMeta)>, ClientFileError> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    let mut f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(ClientFileError::SymbolicLink)
        }
        Err(e) => return Err(io_error("open", &e)),
    };
    let meta = f.metadata().map_err(|e| io_error("stat", &e))?;
    if !meta.is_file() {
        return Err(ClientFileError::NotRegular);
    }
    #[cfg(unix)]
    let kept = {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(ClientFileError::HardLinks(meta.nlink()));
        }
        FileMeta {
            mode: meta.mode() & 0o7777,
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        }
    };
    #[cfg(not(unix))]
    let kept = FileMeta {
        mode: 0o600,
        uid: None,
        gid: None,
    };
    let bytes = SecretBuf::read_capped(&mut f, limit)
        .map_err(|e| io_error("read", &e))?
        .map_err(|_| ClientFileError::TooLarge { mib: limit >> 20 })?;
    Ok(Some((bytes, kept)))
}

fn io_error(op: &'static str, e: &std::io::Error) -> ClientFileError {
    ClientFileError::Io { op, kind: e.kind() }
}

/// The mode and owner a new client file gets: 0600, and (when root writes it) the owner of the
/// directory it goes in, so a user's own client can read it.
pub(crate) fn new_file_meta(dir: &Path) -> FileMeta {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let dir_meta = dir.ancestors().find_map(|d| std::fs::metadata(d).ok());
        let root = rustix::process::geteuid().is_root();
        match dir_meta {
            Some(m) if root => FileMeta {
                mode: 0o600,
                uid: Some(m.uid()),
                gid: Some(m.gid()),
            },
            _ => FileMeta {
                mode: 0o600,
                uid: None,
                gid: None,
            },
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        FileMeta {
            mode: 0o600,
            uid: None,
            gid: None,
        }
    }
}

/// Creates `dir` (0700, every missing level) and gives what it created to `meta`'s owner.
pub(crate) fn ensure_dir_owned(dir: &Path, meta: &FileMeta) -> Result<(), ClientFileError> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| std::fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    fsutil::ensure_dir(dir).map_err(|e| ClientFileError::Directory(format!("{e:#}")))?;
    #[cfg(unix)]
    for d in missing.iter().rev() {
        if meta.uid.is_some() || meta.gid.is_some() {
            let uid = meta.uid.map(rustix::fs::Uid::from_raw);
            let gid = meta.gid.map(rustix::fs::Gid::from_raw);
            rustix::fs::chown(d, uid, gid).map_err(|e| ClientFileError::Chown {
                dir: d.display().to_string(),
                why: e.to_string(),
            })?;
        }
    }
    #[cfg(not(unix))]
    let _ = (missing, meta);
    Ok(())
}

/// Replaces `dir/name` atomically with `bytes`: a temp file in the same directory, created 0600,
/// given `meta`'s mode, owner and group before a byte is written, fsynced, renamed over the old
/// file. If the owner or group cannot be kept, nothing is replaced.
pub(crate) fn replace(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    meta: &FileMeta,
) -> Result<(), ClientFileError> {
    replace_with(dir, name, bytes, meta, |tmp, target, _| {
        std::fs::rename(tmp, target).map(|()| true)
    })
    .map(drop)
}

/// [`replace`], but only while `dir/name` still holds `expected` (`None`: no file), so a login
/// another program wrote since it was read is never overwritten (docs/clients.md, "Concurrent
/// writers"). `Ok(false)`: it changed, nothing was replaced; read it again and redo the edit.
pub(crate) fn replace_if_unchanged(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    meta: &FileMeta,
    expected: Option<&[u8]>,
) -> Result<bool, ClientFileError> {
    replace_with(dir, name, bytes, meta, |tmp, target, ours| {
        swap_if_unchanged(tmp, target, expected, ours)
    })
}

/// Whether `path` is a file holding exactly `bytes` (`None`: no file at all).
fn holds(path: &Path, bytes: Option<&[u8]>) -> bool {
    match (read_client_file(path, bytes.map_or(0, <[u8]>::len)), bytes) {
        (Ok(None), None) => true,
        (Ok(Some((now, _))), Some(b)) => now.as_slice() == b,
        _ => false,
    }
}

/// Puts `tmp` in `target`'s place if `target` still holds `expected`. docker takes no lock on its
/// config (it writes a temp file and renames it), so there is no lock to share: the file is
/// compared just before, and, where the kernel can swap two names atomically (`renameat2`
/// `RENAME_EXCHANGE` on Linux, `RENAME_SWAP` on macOS), the file displaced by the swap is compared
/// again and put back if another program wrote it in between. `ours` is the temp file's inode.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn swap_if_unchanged(
    tmp: &Path,
    target: &Path,
    expected: Option<&[u8]>,
    ours: u64,
) -> std::io::Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    use std::os::unix::fs::MetadataExt;
    let unsupported = |e: Errno| matches!(e, Errno::INVAL | Errno::NOSYS | Errno::NOTSUP);
    let Some(old) = expected else {
        // There was no file: take the name only while it is still free.
        return match renameat_with(CWD, tmp, CWD, target, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) => Ok(false),
            Err(e) if unsupported(e) => {
                if holds(target, None) {
                    std::fs::rename(tmp, target).map(|()| true)
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e.into()),
        };
    };
    if !holds(target, Some(old)) {
        return Ok(false);
    }
    match renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE) {
        // `tmp` now names the file that was displaced.
        Ok(()) if holds(tmp, Some(old)) => Ok(true),
        Ok(()) => {
            // Another program wrote between the comparison and the swap: give its file back its
            // name, unless a third write has already replaced ours.
            if std::fs::symlink_metadata(target).is_ok_and(|m| m.ino() == ours) {
                renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE)?;
            }
            Ok(false)
        }
        Err(e) if unsupported(e) => std::fs::rename(tmp, target).map(|()| true),
        Err(e) => Err(e.into()),
    }
}

/// Without an atomic swap: compared just before the rename.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn swap_if_unchanged(
    tmp: &Path,
    target: &Path,
    expected: Option<&[u8]>,
    _ours: u64,
) -> std::io::Result<bool> {
    if !holds(target, expected) {
        return Ok(false);
    }
    std::fs::rename(tmp, target).map(|()| true)
}

/// Writes the temp file, then lets `commit(tmp, target, temp inode)` put it in place; whatever is
/// left under the temp name afterwards (ours, or a file a swap displaced) is removed.
fn replace_with(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    meta: &FileMeta,
    commit: impl FnOnce(&Path, &Path, u64) -> std::io::Result<bool>,
) -> Result<bool, ClientFileError> {
    let tmp = fsutil::temp_path(dir, name);
    let shown = dir.join(name).display().to_string();
    let result = (|| -> Result<bool, ClientFileError> {
        let io = |e: std::io::Error| ClientFileError::Write {
            file: shown.clone(),
            why: e.to_string(),
        };
        let mut f = fsutil::create_private(&tmp).map_err(io)?;
        #[cfg(unix)]
        let ours = {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let now = f.metadata().map_err(io)?;
            let uid = meta.uid.filter(|u| *u != now.uid());
            let gid = meta.gid.filter(|g| *g != now.gid());
            if uid.is_some() || gid.is_some() {
                rustix::fs::fchown(
                    &f,
                    uid.map(rustix::fs::Uid::from_raw),
                    gid.map(rustix::fs::Gid::from_raw),
                )
                .map_err(|e| ClientFileError::KeepOwner {
                    file: shown.clone(),
                    uid: meta.uid.unwrap_or_default(),
                    gid: meta.gid.unwrap_or_default(),
                    why: e.to_string(),
                })?;
            }
            if meta.mode != 0o600 {
                f.set_permissions(std::fs::Permissions::from_mode(meta.mode))
                    .map_err(io)?;
            }
            now.ino()
        };
        #[cfg(not(unix))]
        let ours = 0;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        if !commit(&tmp, &dir.join(name), ours).map_err(io)? {
            return Ok(false);
        }
        fsutil::sync_dir(dir).map_err(io)?;
        Ok(true)
    })();
    // Gone after a plain rename; otherwise ours unused, or the old file a swap displaced.
    let _ = std::fs::remove_file(&tmp);
    result
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
            let e = Document::parse(bad).err().unwrap().to_string();
            assert!(!e.contains("SEKRIT") && e.contains("line"), "{e}");
        }
        let d = Document::parse("{\"credHelpers\": [\"x\"]}").unwrap();
        assert!(d.cred_helpers().is_err());
    }
    /// Go's rules decide which member is which (checked against encoding/json, go1.19): any
    /// case, later entries win, objects merge, `null` empties; edits go into the member docker
    /// reads, never a second one beside it.
    #[test]
    fn members_are_found_with_go_rules_and_edited_in_place() {
        let mut d = Document::parse("{\n\t\"CredHelpers\": {\"a.io\": \"x\"}\n}\n").unwrap();
        assert_eq!(d.cred_helpers().unwrap(), vec![("a.io".into(), "x".into())]);
        d.set_cred_helpers(&[("a.io".into(), "x".into()), ("b.io".into(), "beta9".into())])
            .unwrap();
        assert_eq!(
            d.render(),
            "{\n\t\"credHelpers\": {\n\t\t\"a.io\": \"x\",\n\t\t\"b.io\": \"beta9\"\n\t}\n}\n"
        );
        assert!(d.is_canonical(Member::CredHelpers));
        let d = Document::parse(
            r#"{"credHelpers": {"a.io": "x", "b.io": "x"}, "z": 1, "CREDHELPERS": {"b.io": "y"}}"#,
        )
        .unwrap();
        let h = d.cred_helpers().unwrap();
        assert_eq!(
            h,
            vec![("a.io".into(), "x".into()), ("b.io".into(), "y".into())]
        );
        let mut e =
            Document::parse(r#"{"credHelpers": {"a.io": "x"}, "credHelpers": null}"#).unwrap();
        assert!(e.cred_helpers().unwrap().is_empty());
        let mut d2 = d;
        d2.set_cred_helpers(&h).unwrap();
        let out = d2.render();
        assert_eq!(out.matches("a.io").count(), 1, "{out}");
        assert!(out.contains("\"z\": 1,\n\t\"credHelpers\""), "{out}");
        e.set_cred_helpers(&[("c.io".into(), "beta9".into())])
            .unwrap();
        assert_eq!(
            e.cred_helpers().unwrap(),
            vec![("c.io".into(), "beta9".into())]
        );
        // auths: the same rules; the long s folds onto s as in Go.
        let d = Document::parse(r#"{"authſ": {"r.io": {"auth": "eDp5"}}, "Auths": {"q.io": {}}}"#)
            .unwrap();
        let keys: Vec<String> = d.auths().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["r.io", "q.io"]);
        // Doctor's reader agrees on every one of these.
        for text in [
            r#"{"CredHelpers": {"a.io": "x"}}"#,
            r#"{"credHelpers": {"a.io": "x", "b.io": "x"}, "CREDHELPERS": {"b.io": "y"}}"#,
            r#"{"credHelpers": {"a.io": "x"}, "credHelpers": null}"#,
        ] {
            let p = cc::parse(text.as_bytes(), false).unwrap();
            assert_eq!(
                p.cred_helpers,
                Document::parse(text).unwrap().cred_helpers().unwrap()
            );
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn logins_decode_as_docker_reads_them() {
        let l = decode_login(&raw(r#"{"auth": "dXNlcjpwYTpzcw=="}"#))
            .unwrap()
            .unwrap();
        assert_eq!(
            (l.username.as_str(), l.secret.expose_secret()),
            ("user", "pa:ss")
        );
        let l = decode_login(&raw(r#"{"Auth": "eDp5", "IdentityToken": "tok"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(
            (l.username.as_str(), l.secret.expose_secret()),
            ("<token>", "tok")
        );
        let l = decode_login(&raw(r#"{"username": "u", "password": "p"}"#))
            .unwrap()
            .unwrap();
        assert_eq!((l.username.as_str(), l.secret.expose_secret()), ("u", "p"));
        assert!(decode_login(&raw(r#"{"email": "e"}"#)).unwrap().is_none());
        for bad in [
            r#"{"auth": "SEKRIT!!"}"#,
            r#"{"auth": "U0VLUklU"}"#,
            r#"{"registrytoken": "SEKRIT"}"#,
            "[1]",
        ] {
            let e = decode_login(&raw(bad)).unwrap_err().to_string();
            assert!(!e.contains("SEKRIT"), "{e}");
        }
        assert!(
            !format!("{:?}", decode_login(&raw(r#"{"auth": "dTpTRUtSSVQ="}"#))).contains("SEKRIT")
        );
    }

    #[test]
    fn backups_lose_every_auths_secret_and_keep_the_rest() {
        let d = Document::parse(
            "{\n\t\"auths\": {\"a.io\": {\"auth\": \"SEKRIT\", \"email\": \"e\"}, \"b.io\": {\"IdentityToken\": \"SEKRIT\"}},\n\t\"x\": 1\n}\n",
        )
        .unwrap();
        let b = d.without_auth_secrets().unwrap().render();
        assert!(!b.contains("SEKRIT"), "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"auths": {"a.io": {"email": "e"}, "b.io": {}}, "x": 1})
        );
    }

    #[test]
    fn client_file_errors_are_typed_and_worded_once() {
        let e = Document::parse("{\"a\": x}").err().unwrap();
        assert_eq!(
            e,
            ClientFileError::NotJson(NotJsonObject { line: 1, column: 7 })
        );
        assert_eq!(
            e.to_string(),
            "not a JSON object (error at line 1, column 7)"
        );
        let doc = Document::parse(r#"{"CredHelpers": [1]}"#).unwrap();
        let e = doc.cred_helpers().unwrap_err();
        assert_eq!(e.to_string(), "credHelpers is not an object of strings");
        assert!(matches!(
            e,
            ClientFileError::Member {
                member: Member::CredHelpers,
                ..
            }
        ));
        for (entry, expected) in [
            (r#"{"auth": "!!"}"#, ClientFileError::AuthNotBase64),
            (r#"{"auth": "OnA="}"#, ClientFileError::AuthNoUsername),
            (
                r#"{"password": "p"}"#,
                ClientFileError::PasswordWithoutUsername,
            ),
            (r#"{"registrytoken": "t"}"#, ClientFileError::RegistryToken),
        ] {
            assert_eq!(decode_login(&raw(entry)).unwrap_err(), expected, "{entry}");
        }
        let t = tempfile::tempdir().unwrap();
        let e = read_client_file(t.path(), 1 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                ClientFileError::NotRegular | ClientFileError::Io { op: "open", .. }
            ),
            "{e}"
        );
    }
}
