//! `kubelet install` against a fake node root (a temp dir with the kubelet's plugin directory and a
//! config that already lists another provider), then the installed plugin run exactly as the
//! kubelet runs it (docs/kubelet.md, "Execution"), with the binary under test run directly; the
//! same install run from the OCI image with podman is in tests/it/image.rs.

use crate::support::{bin, current_test, tool_missing, Out, Sandbox, CANARY};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

const ECR_PROVIDER: &str = "\
# written by the node's bootstrap
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider   # the cloud's plugin
    matchImages:
      - \"*.dkr.ecr.*.amazonaws.com\"
    defaultCacheDuration: \"12h\"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    env:
      - name: AWS_PROFILE
        value: node-profile
";

struct Node {
    root: PathBuf,
}

impl Node {
    fn new(s: &Sandbox, config: &str) -> Node {
        let root = s.path().join("node");
        for d in ["bin", "etc/kubernetes", "secret"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(
            root.join("etc/kubernetes/credential-providers.yaml"),
            config,
        )
        .unwrap();
        std::fs::write(root.join("secret/master.key"), format!("{KEY_HEX}\n")).unwrap();
        Node { root }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
    fn config(&self) -> PathBuf {
        self.p("etc/kubernetes/credential-providers.yaml")
    }
    fn install(&self, s: &Sandbox, extra: &[&str]) -> Out {
        let (bin_dir, config, store, key, from) = (
            self.p("bin"),
            self.config(),
            self.p("var/lib/docker-credential-beta9"),
            self.p("etc/docker-credential-beta9/master.key"),
            self.p("secret/master.key"),
        );
        let mut args = vec!["kubelet", "install"];
        let flags = [
            ("--bin-dir", &bin_dir),
            ("--config", &config),
            ("--store-dir", &store),
            ("--key-file", &key),
            ("--key-from", &from),
        ];
        for (f, v) in &flags {
            args.push(f);
            args.push(v.to_str().unwrap());
        }
        args.extend_from_slice(extra);
        s.run(&args, b"")
    }
}

/// The config as JSON, through PyYAML (kubelet's YAML reading is not ours to re-implement).
pub fn yaml_to_json(test: &str, path: &Path) -> Option<serde_json::Value> {
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output();
    match o {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).unwrap()),
        Ok(o) => {
            tool_missing(
                test,
                "python3 with PyYAML",
                &String::from_utf8_lossy(&o.stderr),
            );
            None
        }
        Err(e) => {
            tool_missing(test, "python3", &e.to_string());
            None
        }
    }
}

/// Runs the plugin as kubelet does: `<bin-dir>/<name> <args…>`, the request on stdin, and (here,
/// stricter than kubelet, which adds its own) an environment holding only the config's `env:`.
pub fn run_as_kubelet(bin_dir: &Path, provider: &serde_json::Value, image: &str) -> Out {
    let name = provider["name"].as_str().unwrap();
    let mut c = Command::new(bin_dir.join(name));
    for a in provider["args"].as_array().unwrap() {
        c.arg(a.as_str().unwrap());
    }
    c.env_clear().current_dir("/");
    for e in provider["env"].as_array().unwrap() {
        c.env(e["name"].as_str().unwrap(), e["value"].as_str().unwrap());
    }
    let req = serde_json::json!({
        "apiVersion": provider["apiVersion"],
        "kind": "CredentialProviderRequest",
        "image": image,
    });
    crate::support::run_stdin(c, req.to_string().as_bytes())
}

fn inode(p: &Path) -> (u64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime_nsec())
}

#[test]
fn kubelet_install_twice_on_a_node_then_the_kubelet_pulls_with_it() {
    let test = current_test();
    let s = Sandbox::new();
    let node = Node::new(&s, ECR_PROVIDER);
    // The node's store, sealed with the key the Secret holds.
    let store = node.p("var/lib/docker-credential-beta9");
    let secret_key = node.p("secret/master.key");
    s.run_env(
        &["store"],
        format!(r#"{{"ServerURL":"ghcr.io","Username":"octo","Secret":"{CANARY}"}}"#).as_bytes(),
        &[
            ("BETA9_CREDENTIALS_DIR", store.to_str().unwrap()),
            ("BETA9_CREDENTIALS_KEY_FILE", secret_key.to_str().unwrap()),
        ],
    )
    .assert_ok();

    let first = node.install(&s, &[]);
    first.assert_ok();
    for line in ["key: copied to ", "binary: installed ", "config: updated "] {
        assert!(first.stdout.contains(line), "{line}: {first:?}");
    }
    let installed = node.p("bin/docker-credential-beta9");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(bin()).unwrap()
    );
    assert!(!node.p("bin/docker-credential-beta9.old").exists());
    let after_first = std::fs::read_to_string(node.config()).unwrap();
    // The other provider's lines, comments included, are where they were, byte for byte.
    assert!(after_first.starts_with(ECR_PROVIDER), "{after_first}");

    let (config_id, bin_id) = (inode(&node.config()), inode(&installed));
    let second = node.install(&s, &[]);
    second.assert_ok();
    for line in [
        "key: unchanged ",
        "binary: unchanged ",
        "config: unchanged ",
    ] {
        assert!(second.stdout.contains(line), "{line}: {second:?}");
    }
    assert_eq!(std::fs::read_to_string(node.config()).unwrap(), after_first);
    assert_eq!(inode(&node.config()), config_id, "the config was rewritten");
    assert_eq!(inode(&installed), bin_id, "the binary was rewritten");

    let Some(cfg) = yaml_to_json(&test, &node.config()) else {
        return;
    };
    assert_eq!(cfg["providers"][0]["name"], "ecr-credential-provider");
    let ours = &cfg["providers"][1];
    assert_eq!(ours["name"], "docker-credential-beta9");
    assert_eq!(ours["args"], serde_json::json!(["kubelet"]));
    let o = run_as_kubelet(&node.p("bin"), ours, "ghcr.io/org/app:1");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["auth"]["ghcr.io/org/app"]["password"], CANARY);
    assert_eq!(o.json()["auth"]["ghcr.io/org/app"]["username"], "octo");
    assert!(!o.stderr.contains(CANARY));
}

#[test]
fn kubelet_install_dry_run_prints_the_diff_masks_other_env_values_and_writes_nothing() {
    let s = Sandbox::new();
    let node = Node::new(&s, &ECR_PROVIDER.replace("node-profile", CANARY));
    let o = node.install(&s, &["--dry-run"]);
    o.assert_ok();
    assert!(o.stdout.contains("binary: would install "), "{o:?}");
    assert!(o.stdout.contains("key: would copy to "), "{o:?}");
    assert!(
        o.stdout.contains("+  - name: \"docker-credential-beta9\""),
        "{o:?}"
    );
    assert!(o.stdout.contains("value: <masked>"), "{o:?}");
    assert!(
        !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
        "{o:?}"
    );
    assert!(!node.p("bin/docker-credential-beta9").exists());
    assert!(!node.p("etc/docker-credential-beta9").exists());
    assert_eq!(
        std::fs::read_to_string(node.config()).unwrap(),
        ECR_PROVIDER.replace("node-profile", CANARY)
    );
}

#[test]
fn kubelet_install_keeps_a_json_config_json_and_the_other_provider_byte_for_byte() {
    let s = Sandbox::new();
    let other = r#"{"name": "ecr-credential-provider", "matchImages": ["*.dkr.ecr.*.amazonaws.com"], "defaultCacheDuration": "12h", "apiVersion": "credentialprovider.kubelet.k8s.io/v1"}"#;
    let text = format!(
        "{{\n  \"apiVersion\": \"kubelet.config.k8s.io/v1\",\n  \"kind\": \"CredentialProviderConfig\",\n  \"providers\": [\n    {other}\n  ]\n}}\n"
    );
    let node = Node::new(&s, &text);
    node.install(&s, &[]).assert_ok();
    let after = std::fs::read_to_string(node.config()).unwrap();
    assert!(after.contains(other), "{after}");
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(v["providers"][1]["name"], "docker-credential-beta9");
    assert_eq!(
        v["providers"][1]["apiVersion"],
        "credentialprovider.kubelet.k8s.io/v1"
    );
    assert_eq!(v["providers"][1]["defaultCacheDuration"], "5m");
    let o = node.install(&s, &[]);
    assert!(o.stdout.contains("config: unchanged "), "{o:?}");
    assert_eq!(std::fs::read_to_string(node.config()).unwrap(), after);
}

#[test]
fn kubelet_install_never_replaces_a_different_key_on_the_node() {
    let s = Sandbox::new();
    let node = Node::new(&s, ECR_PROVIDER);
    let key = node.p("etc/docker-credential-beta9/master.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let o = node.install(&s, &[]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("already holds a different key"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(
        !o.stderr.contains(KEY_HEX) && !o.stderr.contains("abab"),
        "{o:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        format!("{}\n", "ab".repeat(32))
    );
    assert_eq!(
        std::fs::read_to_string(node.config()).unwrap(),
        ECR_PROVIDER
    );
}

#[test]
fn kubelet_install_refuses_a_config_layout_it_cannot_edit_and_leaves_it() {
    let s = Sandbox::new();
    let flow = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: [{name: ecr, matchImages: [\"*.io\"]}]\n";
    let node = Node::new(&s, flow);
    let o = node.install(&s, &[]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("flow style"), "{o:?}");
    assert!(!node.p("bin/docker-credential-beta9").exists());
    assert!(!node.p("etc/docker-credential-beta9").exists());
    assert_eq!(std::fs::read_to_string(node.config()).unwrap(), flow);
}

/// README "Kubernetes nodes": the install command pasted into bash as written, with the node's
/// absolute paths moved under a temp root (a test never writes machine-wide paths). Run twice:
/// the second prints `unchanged` three times.
#[test]
fn the_readme_kubernetes_nodes_install_runs_as_pasted() {
    let s = Sandbox::new();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Kubernetes nodes\n")
        .nth(1)
        .expect("README has a Kubernetes nodes section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("an sh block");
    assert!(block.contains("kubelet install"), "{block}");
    let root = s.path().join("root");
    let r = root.to_str().unwrap();
    let pasted = block
        .replace(" /usr/", &format!(" {r}/usr/"))
        .replace(" /etc/", &format!(" {r}/etc/"))
        .replace(" /var/", &format!(" {r}/var/"));
    std::fs::write(s.path().join("master.key"), format!("{KEY_HEX}\n")).unwrap();
    let cd = format!("cd {}", s.path().display());
    let first = s.pasted("bash", &[&cd, &pasted], b"");
    first.assert_ok();
    assert!(first.stdout.contains("config: created "), "{first:?}");
    let second = s.pasted("bash", &[&cd, &pasted], b"");
    second.assert_ok();
    assert_eq!(
        second.stdout.matches(" unchanged ").count(),
        3,
        "{second:?}"
    );
}
