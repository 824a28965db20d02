//! Retired keys stay retired (docs/storage.md, "Key ownership and rotation"): after a finished
//! `rekey` K1 -> K2, someone who holds K1, saved the base's records while the rotation ran and can
//! write the store puts them back beside an entry forged under K1. The helper on K2 must not answer
//! the forgery (one line, exit 1: the entry is there and does not open), and a later `rekey` must
//! not re-seal it.

use crate::support::Sandbox;
use docker_credential_beta9::seal::{self, Key, Purpose};
use docker_credential_beta9::secret_name::SecretName;
use std::path::Path;

const REGISTRY: &str = "ghcr.io";
const RECORDS: [&str; 3] = ["keycheck", "rotation.next", "rotation.prev"];

fn key_of(path: &Path) -> Key {
    let text = std::fs::read_to_string(path).unwrap();
    let bytes: [u8; 32] = hex::decode(text.trim()).unwrap().try_into().unwrap();
    Key::from_bytes(bytes)
}

/// What the attacker kept: K1, the key check before the rotation, the base's records while it ran.
struct Saved {
    k1: Key,
    check_before: Vec<u8>,
    during: Vec<(&'static str, Vec<u8>)>,
    /// The entry as the helper sealed it under K1 (the attacker opens it and changes the secret).
    entry_before: Vec<u8>,
}

fn entry_path(s: &Sandbox) -> std::path::PathBuf {
    s.entries_dir()
        .join(SecretName::derive(REGISTRY).to_string())
}

/// A real rotation, stopped once after its keys are parked (an entry name that is a directory
/// makes the pass over the entries fail: what a crash leaves, and what a backup taken then holds),
/// then finished.
fn rotate_under_watch(s: &mut Sandbox, operator: bool) -> Saved {
    let key_files = if operator {
        std::fs::create_dir_all(s.path()).unwrap();
        let (k1, k2) = (s.path().join("k1"), s.path().join("k2"));
        std::fs::write(&k1, "11".repeat(32)).unwrap();
        std::fs::write(&k2, "22".repeat(32)).unwrap();
        s.set_env("BETA9_CREDENTIALS_KEY_FILE", k1.to_str().unwrap());
        Some((k1, k2))
    } else {
        None
    };
    let rekey: Vec<String> = match &key_files {
        Some((_, k2)) => vec![
            "rekey".into(),
            "--new-key-file".into(),
            k2.display().to_string(),
        ],
        None => vec!["rekey".into()],
    };
    let rekey: Vec<&str> = rekey.iter().map(String::as_str).collect();
    s.store(REGISTRY, "u", "genuine").assert_ok();
    let k1 = match &key_files {
        Some((k1, _)) => key_of(k1),
        None => key_of(&s.key_file()),
    };
    let base = s.store_base();
    let check_before = std::fs::read(base.join("keycheck")).unwrap();
    let entry_before = std::fs::read(entry_path(s)).unwrap();
    let plant = s.entries_dir().join("oci-creds-ffffffffffffffff");
    std::fs::create_dir(&plant).unwrap();
    let o = s.run(&rekey, b"");
    assert_ne!(o.code, 0, "the planted directory stops the pass: {o:?}");
    assert!(s.rotation_parked(), "{o:?}");
    let during: Vec<(&str, Vec<u8>)> = RECORDS
        .iter()
        .filter_map(|r| Some((*r, std::fs::read(base.join(r)).ok()?)))
        .collect();
    std::fs::remove_dir(&plant).unwrap();
    s.run(&rekey, b"").assert_ok();
    assert!(!s.rotation_parked());
    match &key_files {
        // The operator points every machine at the new key.
        Some((_, k2)) => s.set_env("BETA9_CREDENTIALS_KEY_FILE", k2.to_str().unwrap()),
        None => assert_ne!(key_of(&s.key_file()).expose(), k1.expose(), "K2 installed"),
    }
    assert_eq!(s.get(REGISTRY).json()["Secret"], "genuine");
    Saved {
        k1,
        check_before,
        during,
        entry_before,
    }
}

/// The entry for `REGISTRY`, with another secret, sealed under K1 and written over the real one.
fn forge(s: &Sandbox, saved: &Saved) -> Vec<u8> {
    let name = SecretName::derive(REGISTRY).to_string();
    let k = saved.k1.derive("default", Purpose::Entry);
    let plain = seal::open(&k, Purpose::Entry, "default", &name, &saved.entry_before).unwrap();
    let text = String::from_utf8(plain.as_slice().to_vec()).unwrap();
    assert!(text.contains("genuine"));
    let forged = text.replace("genuine", "FORGED");
    let sealed = seal::seal(&k, Purpose::Entry, "default", &name, forged.as_bytes()).unwrap();
    std::fs::write(entry_path(s), &sealed).unwrap();
    sealed
}

fn put_back(s: &Sandbox, record: &str, bytes: &[u8]) {
    std::fs::write(s.store_base().join(record), bytes).unwrap();
}

/// `get` on K2 refuses the forgery in one line, and `rekey` leaves it as it is.
fn forgery_stays_out(s: &Sandbox, forged: &[u8]) {
    let o = s.get(REGISTRY);
    assert_eq!(o.code, 1, "the forged entry was answered: {o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "{o:?}");
    assert!(!o.stdout.contains("FORGED"), "{o:?}");
    assert!(o.stdout.contains("cannot decrypt"), "{o:?}");
    let o = s.run(&["rekey"], b"");
    assert!(!o.stdout.contains("rekeyed 1 entry"), "re-sealed: {o:?}");
    assert_eq!(
        std::fs::read(entry_path(s)).unwrap(),
        forged,
        "rekey re-sealed the forged entry: {o:?}"
    );
    let o = s.get(REGISTRY);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(!o.stdout.contains("FORGED"), "{o:?}");
}

fn parked_old_key_put_back(operator: bool) {
    let mut s = Sandbox::new();
    let saved = rotate_under_watch(&mut s, operator);
    let prev = saved.during.iter().find(|r| r.0 == "rotation.prev");
    // An operator's key file gets the old key parked under the new one (machines switched early
    // read through it); a generated key never does, so there is nothing to put back.
    assert_eq!(prev.is_some(), operator);
    if let Some((_, bytes)) = prev {
        put_back(&s, "rotation.prev", bytes);
    }
    let forged = forge(&s, &saved);
    forgery_stays_out(&s, &forged);
}

fn old_key_check_put_back(operator: bool) {
    let mut s = Sandbox::new();
    let saved = rotate_under_watch(&mut s, operator);
    for (record, bytes) in &saved.during {
        put_back(&s, record, bytes);
    }
    put_back(&s, "keycheck", &saved.check_before);
    let forged = forge(&s, &saved);
    forgery_stays_out(&s, &forged);
}

#[test]
fn a_parked_old_key_put_back_after_rekey_opens_nothing() {
    parked_old_key_put_back(false);
}

#[test]
fn a_parked_old_key_put_back_after_an_operator_rekey_opens_nothing() {
    parked_old_key_put_back(true);
}

#[test]
fn an_old_key_check_put_back_with_the_parked_keys_opens_nothing() {
    old_key_check_put_back(false);
}

#[test]
fn an_old_key_check_put_back_after_an_operator_rekey_opens_nothing() {
    old_key_check_put_back(true);
}

/// With a generated key (or keyring item) not even the base's whole record set from the middle of
/// the rotation brings the old key back: its new key is installed only once every entry moved.
#[test]
fn the_whole_base_record_set_of_a_running_rotation_put_back_opens_nothing() {
    let mut s = Sandbox::new();
    let saved = rotate_under_watch(&mut s, false);
    for (record, bytes) in &saved.during {
        put_back(&s, record, bytes);
    }
    let forged = forge(&s, &saved);
    forgery_stays_out(&s, &forged);
}

/// With an operator's key file the old key is parked under the new one for machines switched
/// early, so the whole record set of a running rotation put back does rewind the base to that
/// rotation: machines on the new key read through the old key again (docs/storage.md, "Key
/// ownership and rotation", says so). A `rekey` on the new key still re-seals nothing: only the
/// old key's holder finishes a rotation.
#[test]
fn a_rotation_rewound_by_an_operators_backup_is_not_finished_from_the_new_key() {
    let mut s = Sandbox::new();
    let saved = rotate_under_watch(&mut s, true);
    for (record, bytes) in &saved.during {
        put_back(&s, record, bytes);
    }
    let forged = forge(&s, &saved);
    let o = s.run(&["rekey"], b"");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("key it started from"), "{o:?}");
    assert_eq!(std::fs::read(entry_path(&s)).unwrap(), forged);
}
