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
fn kubelet_gets_the_registrys_login_with_a_registry_cache_key() {
    let s = Sandbox::new();
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    let o = s.run(&["kubelet"], &request("ghcr.io/org/app:1.2"));
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.json(),
        serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderResponse",
            "cacheKeyType": "Registry",
            "cacheDuration": "5m0s",
            "auth": {"ghcr.io": {"username": "octo", "password": CANARY}},
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
    assert_eq!(o.json()["auth"]["ghcr.io"]["password"], "host-secret");
}

#[test]
fn kubelet_hub_images_use_the_docker_io_key() {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "me", "pat")
        .assert_ok();
    for image in ["nginx:1.25", "me/app", "docker.io/library/ubuntu"] {
        let o = s.run(&["kubelet"], &request(image));
        assert_eq!(o.json()["auth"]["docker.io"]["password"], "pat", "{image}");
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
