//! The kubelet credential provider plugin API (credentialprovider.kubelet.k8s.io/v1) through the
//! real binary, as kubelet runs it: `docker-credential-beta9 kubelet`, request on stdin.

use crate::support::{Sandbox, CANARY};

fn request(image: &str) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn kubelet_gets_the_registrys_login_keyed_by_the_image() {
    let s = Sandbox::new();
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    let o = s.run(&["kubelet"], &request("ghcr.io/org/app:1.2"));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.json(),
        serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderResponse",
            "cacheKeyType": "Image",
            "cacheDuration": "5m0s",
            "auth": {"ghcr.io/org/app": {"username": "octo", "password": CANARY}},
        })
    );
    assert!(!o.stderr.contains(CANARY));
}

#[test]
fn kubelet_prefers_an_entry_for_the_exact_repository() {
    let s = Sandbox::new();
    s.store("ghcr.io", "host", "host-secret").assert_ok();
    s.store("ghcr.io/org/special", "repo", "repo-secret")
        .assert_ok();
    let o = s.run(&["kubelet"], &request("ghcr.io/org/special@sha256:abcd"));
    let v = o.json();
    assert_eq!(v["cacheKeyType"], "Image");
    assert_eq!(v["auth"]["ghcr.io/org/special"]["password"], "repo-secret");
    let o = s.run(&["kubelet"], &request("ghcr.io/org/other:1"));
    assert_eq!(o.json()["cacheKeyType"], "Image");
    assert_eq!(
        o.json()["auth"]["ghcr.io/org/other"]["password"],
        "host-secret"
    );
}

/// kubelet's own cache (docs/kubelet.md, "kubelet's cache"), replayed: it looks up the image, then
/// the registry host, before it calls the plugin, and an answer is used for every image its
/// cache key covers. A registry-scoped answer for one image must not shadow another repository's
/// entry.
#[test]
fn a_registry_login_never_shadows_a_repository_entry_in_kubelets_cache() {
    let s = Sandbox::new();
    s.store("ghcr.io", "host", "host-secret").assert_ok();
    s.store("ghcr.io/test/hello", "repo", "repo-secret")
        .assert_ok();
    let mut by_image: std::collections::HashMap<String, serde_json::Value> = Default::default();
    let mut by_registry: std::collections::HashMap<String, serde_json::Value> = Default::default();
    let mut pull = |image: &str| -> String {
        let host = image.split('/').next().unwrap().to_string();
        let cached = by_image
            .get(image)
            .or_else(|| by_registry.get(&host))
            .cloned();
        let answer = cached.unwrap_or_else(|| {
            let v = s.run(&["kubelet"], &request(image)).json();
            match v["cacheKeyType"].as_str().unwrap() {
                "Image" => by_image.insert(image.to_string(), v.clone()),
                "Registry" => by_registry.insert(host, v.clone()),
                other => panic!("cacheKeyType {other}"),
            };
            v
        });
        // The most specific auth key that prefixes the image wins.
        let auth = answer["auth"].as_object().unwrap();
        let (_, login) = auth
            .iter()
            .filter(|(k, _)| image.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .unwrap_or_else(|| panic!("no auth key matches {image}: {answer}"));
        login["password"].as_str().unwrap().to_string()
    };
    assert_eq!(pull("ghcr.io/test/other"), "host-secret");
    assert_eq!(pull("ghcr.io/test/hello"), "repo-secret");
    assert_eq!(pull("ghcr.io/test/other"), "host-secret");
}

/// kubelet under systemd: no HOME, the store and key named in the provider's `env`.
#[test]
fn kubelet_without_home_works_with_the_env_of_the_example_config() {
    let s = Sandbox::new();
    let key = s.path().join("node.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let key = key.to_str().unwrap().to_string();
    let no_home = |args: &[&str], stdin: &[u8], key: Option<&str>| {
        let mut c = s.cmd(args);
        c.env_remove("HOME");
        if let Some(k) = key {
            c.env("BETA9_CREDENTIALS_KEY_FILE", k);
        }
        s.run_with(c, stdin)
    };
    let login = br#"{"ServerURL":"nvcr.io","Username":"$oauthtoken","Secret":"nk"}"#;
    no_home(&["store"], login, Some(&key)).assert_ok();
    let o = no_home(
        &["kubelet"],
        &request("nvcr.io/nvidia/pytorch:24.01"),
        Some(&key),
    );
    assert_eq!(
        o.json()["auth"]["nvcr.io/nvidia/pytorch"]["password"],
        "nk",
        "{o:?}"
    );
    // Without the key file the message names what is actually missing, not the store dir.
    let o = no_home(&["kubelet"], &request("nvcr.io/nvidia/pytorch:24.01"), None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("cannot locate the generated key")
            && o.stderr.contains("BETA9_CREDENTIALS_KEY_FILE"),
        "{o:?}"
    );
}

/// The "By hand" example of `kubelet --help`, pasted into a shell as printed.
#[test]
fn the_help_by_hand_example_runs_as_pasted() {
    let s = Sandbox::new();
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    let help = s.run(&["kubelet", "--help"], b"").stdout;
    let example: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("By hand"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(example.len(), 3, "{help}");
    let o = s.pasted("sh", &example, b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.json()["auth"]["ghcr.io/org/app"]["password"],
        CANARY,
        "{o:?}"
    );
}

#[test]
fn kubelet_hub_images_use_the_docker_io_key() {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "me", "pat")
        .assert_ok();
    for (image, key) in [
        ("nginx:1.25", "docker.io/library/nginx"),
        ("me/app", "docker.io/me/app"),
        ("docker.io/library/ubuntu", "docker.io/library/ubuntu"),
    ] {
        let o = s.run(&["kubelet"], &request(image));
        assert_eq!(o.json()["auth"][key]["password"], "pat", "{image}");
    }
}

#[test]
fn kubelet_unknown_registry_answers_null_auth_and_no_caching() {
    let s = Sandbox::new();
    let o = s.run(&["kubelet"], &request("quay.io/org/app:1"));
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    assert_eq!(v["auth"], serde_json::Value::Null);
    assert_eq!(v["cacheDuration"], "0s");
}

#[test]
fn kubelet_echoes_older_api_versions_and_rejects_bad_requests() {
    let s = Sandbox::new();
    s.store("nvcr.io", "$oauthtoken", "nk").assert_ok();
    let req = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderRequest","image":"nvcr.io/nvidia/pytorch:24.01-py3"}"#;
    let o = s.run(&["kubelet"], req);
    assert_eq!(
        o.json()["apiVersion"],
        "credentialprovider.kubelet.k8s.io/v1beta1"
    );
    for bad in [
        &br#"{"apiVersion":"v9","kind":"CredentialProviderRequest","image":"x"}"#[..],
        br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"Other","image":"x"}"#,
        br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"}"#,
        b"not json",
    ] {
        let o = s.run(&["kubelet"], bad);
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stdout.is_empty());
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    }
}

/// kubelet (or an operator trying the plugin by hand) sending nothing gets words, not Go's `EOF`.
#[test]
fn kubelet_empty_stdin_says_what_it_expected() {
    let s = Sandbox::new();
    for input in [&b""[..], b"  \n"] {
        let o = s.run(&["kubelet"], input);
        assert_eq!(o.code, 1, "{o:?}");
        assert_eq!(
            o.stderr,
            "error: empty stdin: expected a CredentialProviderRequest (JSON) naming an image\n"
        );
        assert!(o.stdout.is_empty());
    }
}

/// The example config printed by `kubelet --help` is the packaged one, byte for byte, so the
/// patterns a node operator copies are the ones the packages ship.
#[test]
fn the_help_config_is_the_packaged_example() {
    let s = Sandbox::new();
    let help = s.run(&["kubelet", "--help"], b"").stdout;
    let packaged = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging/credential-provider-config.yaml.example"),
    )
    .unwrap();
    assert!(help.contains(&packaged), "{help}");
    for acr in [
        "\"*.azurecr.io\"",
        "\"*.*.geo.azurecr.us\"",
        "openssl rand -hex 32",
    ] {
        assert!(help.contains(acr), "{acr}");
    }
}
