//! Files the operator names are reached through symbolic links, exactly as a kubelet mounts a
//! Secret, ConfigMap or projected volume; files inside the helper's own store and cache are not
//! (docs/storage.md, "Files the operator names").

use crate::gcp_env::GcpStub;
use crate::support::{Out, Sandbox, CANARY};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The directory of the data a kubelet's atomic writer publishes.
const STAMP: &str = "..2026_12_06_22_58_10.123456789";

/// What a kubelet writes into a volume's mount point `dir`: the files in a timestamped
/// directory, `..data` linked to it, and each file's name linked through `..data`
/// (`name -> ..data/name`). Returns the paths an operator would configure (`dir/name`).
pub fn kubelet_volume(dir: &Path, files: &[(&str, &[u8])]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir.join(STAMP)).unwrap();
    let mut paths = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(STAMP).join(name), bytes).unwrap();
        symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        paths.push(dir.join(name));
    }
    symlink(STAMP, dir.join("..data")).unwrap();
    for p in &paths {
        assert!(p.symlink_metadata().unwrap().file_type().is_symlink());
    }
    paths
}

fn assert_login(o: &Out, user: &str, secret: &str) {
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["Username"], user, "{o:?}");
    assert_eq!(o.json()["Secret"], secret, "{o:?}");
}

#[test]
fn a_key_file_mounted_from_a_kubernetes_secret_seals_and_opens_entries() {
    let mut s = Sandbox::new();
    let mount = s.path().join("secrets/beta9-key");
    let key = &kubelet_volume(
        &mount,
        &[("master.key", hex::encode([0x5a; 32]).as_bytes())],
    )[0];
    s.set_env("BETA9_CREDENTIALS_KEY_FILE", key.to_str().unwrap());
    s.store("registry.example.com", "ci", CANARY).assert_ok();
    assert_login(&s.get("registry.example.com"), "ci", CANARY);
    // The kubelet's update: a new timestamped directory, `..data` swapped. The same key is read.
    let next = mount.join("..2026_12_07_00_00_00.000000001");
    std::fs::create_dir(&next).unwrap();
    std::fs::write(next.join("master.key"), hex::encode([0x5a; 32])).unwrap();
    std::fs::remove_file(mount.join("..data")).unwrap();
    symlink(next.file_name().unwrap(), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join(STAMP)).unwrap();
    assert_login(&s.get("registry.example.com"), "ci", CANARY);
    s.assert_not_on_disk(CANARY);
}

#[test]
fn a_linked_key_file_must_still_be_a_regular_file() {
    let mut s = Sandbox::new();
    let link = s.path().join("key-link");
    symlink("/dev/zero", &link).unwrap();
    s.set_env("BETA9_CREDENTIALS_KEY_FILE", link.to_str().unwrap());
    let o = s.store("registry.example.com", "ci", CANARY);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("not a regular file"), "{o:?}");
    assert!(!o.stdout.contains(CANARY), "{o:?}");
}

/// `add` with GOOGLE_APPLICATION_CREDENTIALS naming a path: through a mounted secret's link, yes;
/// a FIFO is refused at once instead of being waited on.
#[test]
fn a_google_key_path_is_read_through_a_mount_and_never_waits_on_a_fifo() {
    let Some(stub) = GcpStub::start(&format!("ya29.{CANARY}")) else {
        return;
    };
    let s = Sandbox::new();
    let key = &kubelet_volume(
        &s.path().join("secrets/gcp"),
        &[("key.json", stub.key_json().as_bytes())],
    )[0];
    let add = |path: &Path| {
        let mut c = s.cmd(&["add", "us-docker.pkg.dev", "GOOGLE_APPLICATION_CREDENTIALS"]);
        c.env("GOOGLE_APPLICATION_CREDENTIALS", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // A bound on the test itself, not on the helper: a blocked open never returns.
        let end = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > end {
                child.kill().unwrap();
                let o = child.wait_with_output().unwrap();
                panic!("add waited on {}: {o:?}", path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        Out {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code().unwrap_or(-1),
        }
    };
    add(key).assert_ok();
    let fifo = s.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let o = add(&fifo);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("not a regular file"), "{o:?}");
}

#[test]
fn a_projected_service_account_token_is_a_workload_identity_subject_file() {
    let Some(stub) = GcpStub::start(&format!("ya29.{CANARY}")) else {
        return;
    };
    let mut s = Sandbox::new();
    // The stub stands in for Google's endpoints: the operator's setting (docs/google.md,
    // "Pinned endpoints"), never the record's.
    s.set_env("BETA9_GOOGLE_ENDPOINT_ORIGIN", &stub.base());
    // /var/run/secrets/tokens/<name> of a projected serviceAccountToken volume.
    let subject = std::fs::read(stub.subject_path()).unwrap();
    let token = &kubelet_volume(
        &s.path().join("var/run/secrets/tokens"),
        &[("gcp-wif-token", &subject)],
    )[0];
    let config = stub.external_json(
        serde_json::json!({"file": token, "format": {"type": "text"}}),
        true,
    );
    s.run_env(
        &[
            "add",
            "us-docker.pkg.dev",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &config)],
    )
    .assert_ok();
    let o = s.get("us-docker.pkg.dev");
    assert_login(&o, "oauth2accesstoken", &format!("ya29.{CANARY}"));
    assert_eq!(stub.last_error(), "");
}

/// Inside the helper's own directories a link was planted by someone: never followed.
#[test]
fn links_inside_the_store_and_the_key_directory_are_still_refused() {
    let s = Sandbox::new();
    s.store("registry.example.com", "ci", CANARY).assert_ok();
    let entry = std::fs::read_dir(s.entries_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("oci-creds-")
        })
        .unwrap();
    // The entry moved out and linked back, byte for byte the same.
    let elsewhere = s.path().join("elsewhere");
    std::fs::rename(&entry, &elsewhere).unwrap();
    symlink(&elsewhere, &entry).unwrap();
    let o = s.get("registry.example.com");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("symbolic link"), "{o:?}");
    std::fs::remove_file(&entry).unwrap();
    std::fs::rename(&elsewhere, &entry).unwrap();
    assert_login(&s.get("registry.example.com"), "ci", CANARY);
    // The generated key, the same way.
    let key = s.key_file();
    let moved = s.path().join("moved.key");
    std::fs::rename(&key, &moved).unwrap();
    symlink(&moved, &key).unwrap();
    let o = s.get("registry.example.com");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("symbolic link"), "{o:?}");
    // A lock file planted as a link makes no file elsewhere.
    let lock = s.entries_dir().join(".lock");
    std::fs::remove_file(&lock).unwrap();
    symlink(s.path().join("planted"), &lock).unwrap();
    let o = s.store("other.example.com", "ci", CANARY);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(!s.path().join("planted").exists());
}

/// A rotation with operator key files: the current key and the new one both mounted secrets.
#[test]
fn rekey_takes_its_new_key_file_from_a_mounted_secret() {
    let s = Sandbox::new();
    let old = &kubelet_volume(
        &s.path().join("secrets/key-1"),
        &[("master.key", hex::encode([0x11; 32]).as_bytes())],
    )[0];
    let new = &kubelet_volume(
        &s.path().join("secrets/key-2"),
        &[("master.key", hex::encode([0x22; 32]).as_bytes())],
    )[0];
    let with = |k: &Path| {
        [(
            "BETA9_CREDENTIALS_KEY_FILE",
            k.to_str().unwrap().to_string(),
        )]
    };
    let (e1, e2) = (with(old), with(new));
    let e1 = [(e1[0].0, e1[0].1.as_str())];
    let e2 = [(e2[0].0, e2[0].1.as_str())];
    let login = serde_json::json!({"ServerURL": "ghcr.io", "Username": "u", "Secret": CANARY});
    s.run_env(&["store"], login.to_string().as_bytes(), &e1)
        .assert_ok();
    s.run_env(
        &["rekey", "--new-key-file", new.to_str().unwrap()],
        b"",
        &e1,
    )
    .assert_ok();
    assert_login(&s.run_env(&["get"], b"ghcr.io", &e2), "u", CANARY);
    assert_eq!(s.run_env(&["get"], b"ghcr.io", &e1).code, 1);
}
