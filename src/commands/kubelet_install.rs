//! `kubelet install`: puts this binary where a node's kubelet looks for credential provider
//! plugins and adds (or replaces) our provider in the kubelet's `CredentialProviderConfig`
//! (docs/kubelet.md, "Installing on a node"), as a DaemonSet's init container or by hand. Every
//! step compares first and writes only what differs, so a second run writes nothing.

use super::diff;
use super::jsonfile;
use super::outcome::{CmdResult, Failure};
use crate::actions::kubelet;
use crate::env;
use crate::fsutil;
use crate::output::Output;
use crate::protocol::NAME;
use crate::provider_config::{self, EnvVar, Provider};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) const ABOUT: &str =
    "Install the kubelet plugin on this node: copy the binary, add our provider to the config";
pub(crate) const EXAMPLES: &str = "\
Examples (as root on a node; the kubelet must run with the two flags below, docs/kubelet.md):
  docker-credential-beta9 kubelet install \\
    --bin-dir /usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec \\
    --config /etc/kubernetes/credential-providers.yaml \\
    --store-dir /var/lib/docker-credential-beta9 \\
    --key-file /etc/docker-credential-beta9/master.key --dry-run
  # kubelet: --image-credential-provider-bin-dir=<--bin-dir>
  #          --image-credential-provider-config=<--config>";

/// The provider entry's `defaultCacheDuration`: what kubelet keeps an answer that names no
/// duration for (every answer names one: docs/kubelet.md, "Request and response").
const DEFAULT_CACHE: &str = "5m";
/// A kubelet config file is a few KiB; refuse anything absurd.
const CONFIG_LIMIT: usize = 1 << 20;
const MASK: &str = "<masked>";

#[derive(clap::Args)]
pub(crate) struct InstallArgs {
    /// Directory the kubelet's --image-credential-provider-bin-dir names
    #[arg(long, value_name = "DIR")]
    pub bin_dir: PathBuf,
    /// The kubelet's --image-credential-provider-config file (YAML or JSON; created if absent)
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The node's master key file, set as BETA9_CREDENTIALS_KEY_FILE for the plugin
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Copy the key from this file (e.g. a mounted Secret) to --key-file when it is not there yet
    #[arg(long, value_name = "PATH", requires = "key_file")]
    pub key_from: Option<PathBuf>,
    /// The node's store directory, set as BETA9_CREDENTIALS_DIR for the plugin
    #[arg(long, value_name = "PATH")]
    pub store_dir: Option<PathBuf>,
    /// Print what would change (the config as a diff) and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

fn text_path(p: &Path, flag: &str) -> Result<String, Failure> {
    if !p.is_absolute() {
        return Err(Failure::user(format!(
            "{flag} must be an absolute path (the kubelet runs the plugin from its own directory)"
        )));
    }
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::user(format!("{flag} is not valid UTF-8")))
}

/// Our provider entry for these flags.
pub(crate) fn provider(args: &InstallArgs) -> Result<Provider, Failure> {
    let mut env = Vec::new();
    if let Some(d) = &args.store_dir {
        env.push(EnvVar {
            name: env::CREDENTIALS_DIR.into(),
            value: text_path(d, "--store-dir")?,
        });
    }
    if let Some(k) = &args.key_file {
        env.push(EnvVar {
            name: env::CREDENTIALS_KEY_FILE.into(),
            value: text_path(k, "--key-file")?,
        });
    }
    Ok(Provider {
        name: NAME.into(),
        api_version: "credentialprovider.kubelet.k8s.io/v1".into(),
        match_images: kubelet::MATCH_IMAGES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        default_cache_duration: DEFAULT_CACHE.into(),
        args: vec!["kubelet".into()],
        env,
    })
}

pub(crate) fn run(args: &InstallArgs) -> CmdResult {
    let p = provider(args)?;
    let mut out = Output::default();
    let verb = |done: &str, would: &str| if args.dry_run { would } else { done }.to_string();

    let (dir, name) = split(&args.config)?;
    let cannot = |e: String| Failure::user(format!("cannot edit {}: {e}", args.config.display()));
    let found = jsonfile::read_client_file(&args.config, CONFIG_LIMIT)
        .map_err(|e| cannot(e.to_string()))?;
    let old = match &found {
        Some((bytes, _)) => Some(
            std::str::from_utf8(bytes.as_slice())
                .map_err(|_| cannot("it is not UTF-8 text".into()))?,
        ),
        None => None,
    };
    let new = provider_config::merge(old, &p).map_err(|e| cannot(e.to_string()))?;
    // Everything is read and checked before anything is written; then the key, the binary, and
    // last the config that names both.
    if let (Some(from), Some(to)) = (&args.key_from, &args.key_file) {
        let state = key_state(from, to)?;
        let line = match state {
            KeyState::Same => format!("key: unchanged {}", to.display()),
            KeyState::Missing(_) => format!(
                "key: {} {}",
                verb("copied to", "would copy to"),
                to.display()
            ),
        };
        if let (KeyState::Missing(bytes), false) = (&state, args.dry_run) {
            let (dir, name) = split(to)?;
            fsutil::ensure_dir(dir).map_err(|e| Failure::user(format!("{e:#}")))?;
            fsutil::write_atomic(dir, name, bytes).map_err(|e| Failure::user(format!("{e:#}")))?;
        }
        out.println(line);
    }

    if let (Some(k), None) = (&args.key_file, &args.key_from) {
        if std::fs::metadata(k).is_err() {
            out.notes.push(format!(
                "{} does not exist yet: the plugin cannot open the store until it does",
                k.display()
            ));
        }
    }

    let exe = env::current_exe()
        .map_err(|e| Failure::Internal(format!("cannot find the running binary: {}", e.kind())))?;
    let target = args.bin_dir.join(NAME);
    if same_binary(&exe, &target) {
        out.println(format!("binary: unchanged {}", target.display()));
    } else {
        if !args.dry_run {
            install_binary(&exe, &args.bin_dir).map_err(Failure::User)?;
        }
        out.println(format!(
            "binary: {} {}",
            verb("installed", "would install"),
            target.display()
        ));
    }

    if old == Some(new.as_str()) {
        out.println(format!("config: unchanged {}", args.config.display()));
        return Ok(out);
    }
    let what = if old.is_some() {
        verb("updated", "would update")
    } else {
        verb("created", "would create")
    };
    out.println(format!("config: {what} {}", args.config.display()));
    if args.dry_run {
        let keep: Vec<String> = p.env.iter().map(|e| e.value.clone()).collect();
        let shown = |t: &str| provider_config::masked_for_diff(t, &keep, MASK);
        let label = args.config.display().to_string();
        let d = diff::unified(
            &shown(old.unwrap_or_default()),
            &shown(&new),
            &label,
            &label,
        );
        out.println(d.trim_end());
        return Ok(out);
    }
    let meta = match &found {
        Some((_, meta)) => *meta,
        None => {
            let meta = jsonfile::new_file_meta(dir);
            jsonfile::ensure_dir_owned(dir, &meta).map_err(|e| cannot(e.to_string()))?;
            meta
        }
    };
    let replaced =
        jsonfile::replace_if_unchanged(dir, name, new.as_bytes(), &meta, old.map(str::as_bytes))
            .map_err(|e| cannot(e.to_string()))?;
    if !replaced {
        return Err(cannot(
            "another program changed it meanwhile; run again".into(),
        ));
    }
    Ok(out)
}

fn split(path: &Path) -> Result<(&Path, &str), Failure> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Failure::user(format!("{} names no file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

enum KeyState {
    Same,
    Missing(zeroize::Zeroizing<Vec<u8>>),
}

/// Whether `to` already holds the key in `from`. A different key there is never replaced: the
/// node's store is sealed with it (rotate with `rekey` instead).
fn key_state(from: &Path, to: &Path) -> Result<KeyState, Failure> {
    let read = |p: &Path| {
        fsutil::read_operator_file(p, fsutil::KEY_LIMIT).map_err(|e| {
            Failure::user(format!(
                "cannot read the key file {}: {}",
                p.display(),
                e.kind()
            ))
        })
    };
    let bytes = read(from)?.ok_or_else(|| {
        Failure::user(format!(
            "cannot read the key file {}: no such file",
            from.display()
        ))
    })?;
    if crate::seal::parse_key(&bytes).is_none() {
        return Err(Failure::user(format!(
            "the key file {} must hold 64 hex characters or exactly 32 raw bytes",
            from.display()
        )));
    }
    match read(to)? {
        None => Ok(KeyState::Missing(bytes)),
        Some(now) if now.trim_ascii() == bytes.trim_ascii() => Ok(KeyState::Same),
        Some(_) => Err(Failure::user(format!(
            "{} already holds a different key; the node's store is sealed with it, so it is not replaced (remove it first, or rotate with `rekey`)",
            to.display()
        ))),
    }
}

/// Does `target` hold exactly `exe`'s bytes, executable?
fn same_binary(exe: &Path, target: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::metadata(target) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 == 0o111 => {}
            _ => return false,
        }
    }
    same_bytes(exe, target).unwrap_or(false)
}

fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(fb.read(&mut bb[..1])? == 0);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Copies `exe` into `dir` as [`NAME`]: a temp file in `dir` (0755, fsynced) renamed over the
/// old copy, which is kept as `NAME.old` (a hard link, so the name is never missing) until the
/// new one answers `version`; if it does not, the old copy is put back.
// The one line `kubelet install` prints after "cannot install": nothing branches on it.
fn install_binary(exe: &Path, dir: &Path) -> Result<(), String> {
    let io =
        |what: &str, e: std::io::Error| format!("cannot {what} in {}: {}", dir.display(), e.kind());
    fsutil::ensure_dir(dir).map_err(|e| format!("{e:#}"))?;
    let target = dir.join(NAME);
    let old = dir.join(format!("{NAME}.old"));
    let tmp = fsutil::temp_path(dir, NAME);
    let copied = (|| -> std::io::Result<()> {
        let mut src = File::open(exe)?;
        let mut f = fsutil::create_private(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o755))?;
        }
        std::io::copy(&mut src, &mut f)?;
        f.sync_all()
    })();
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(io("copy the binary", e));
    }
    let had_old = fs::symlink_metadata(&target).is_ok();
    let swapped = (|| -> std::io::Result<()> {
        if had_old {
            match fs::remove_file(&old) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            fs::hard_link(&target, &old)?;
        }
        fs::rename(&tmp, &target)?;
        fsutil::sync_dir(dir)
    })();
    if let Err(e) = swapped {
        let _ = fs::remove_file(&tmp);
        return Err(io("replace the binary", e));
    }
    let answered = answers_version(&target);
    if !answered {
        let restored = if had_old {
            fs::rename(&old, &target)
        } else {
            fs::remove_file(&target)
        };
        let _ = fsutil::sync_dir(dir);
        return Err(match restored {
            Ok(()) => format!(
                "the new copy in {} did not answer `version`; the previous state was put back",
                dir.display()
            ),
            Err(e) => io("put the previous copy back", e),
        });
    }
    if had_old {
        fs::remove_file(&old).map_err(|e| io("remove the previous copy", e))?;
        fsutil::sync_dir(dir).map_err(|e| io("sync", e))?;
    }
    Ok(())
}

/// Runs `target version` with an empty environment: does it print our name and exit 0?
fn answers_version(target: &Path) -> bool {
    let run = || {
        std::process::Command::new(target)
            .arg("version")
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
    };
    // ETXTBSY: a process forked elsewhere at the moment the copy was still open for writing
    // holds that descriptor until it executes; it is gone within moments.
    let mut tries = 0;
    loop {
        match run() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => {
                return r.is_ok_and(|o| o.status.success() && o.stdout.starts_with(NAME.as_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for the running binary: a script answering `version` as told.
    fn fake_exe(dir: &Path, answer: &str) -> PathBuf {
        let p = dir.join(format!("fake-{}", answer.len()));
        let mut f = fsutil::create_private(&p).unwrap();
        std::io::Write::write_all(&mut f, format!("#!/bin/sh\n{answer}\n").as_bytes()).unwrap();
        drop(f);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_new_copy_that_does_not_answer_version_puts_the_old_one_back() {
        let t = tempfile::tempdir().unwrap();
        let bin_dir = t.path().join("bin");
        let good = fake_exe(t.path(), "echo 'docker-credential-beta9 (beta9) 1'");
        install_binary(&good, &bin_dir).unwrap();
        let target = bin_dir.join(NAME);
        assert_eq!(fs::read(&target).unwrap(), fs::read(&good).unwrap());
        assert!(same_binary(&good, &target));

        let broken = fake_exe(t.path(), "exit 3");
        let err = install_binary(&broken, &bin_dir).unwrap_err();
        assert!(err.contains("did not answer `version`"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), fs::read(&good).unwrap());
        let left: Vec<_> = fs::read_dir(&bin_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            [std::ffi::OsString::from(NAME)],
            "leftovers: {left:?}"
        );

        // Nothing there before: a copy that does not answer is removed again.
        let fresh = t.path().join("fresh");
        assert!(install_binary(&broken, &fresh).is_err());
        assert!(!fresh.join(NAME).exists());
    }
}
