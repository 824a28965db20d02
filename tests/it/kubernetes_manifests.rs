//! The manifests in packaging/kubernetes/ against the Kubernetes API schemas, offline (PyPI
//! `kubernetes-validate` bundles them; scripts/install-test-deps.sh installs it), and the one
//! layout rule the installer relies on (docs/kubelet.md, "Installing on a node"): each of the
//! node's directories is mounted at the same path in the pod as on the node.

use crate::support::{current_test, tool_missing};
use std::path::PathBuf;
use std::process::Command;

fn manifests() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    out.sort();
    assert!(out.len() >= 2, "no manifests in {}", dir.display());
    out
}

/// Runs `kubernetes-validate --strict` (unknown fields are errors) on `files`: exit status and
/// output. `None` when the tool is missing (a failure under BETA9_REQUIRE_TOOLS=1).
fn validate(files: &[PathBuf]) -> Option<(bool, String)> {
    match Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--no-warn"])
        .args(files)
        .output()
    {
        Ok(o) => Some((
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )),
        Err(e) => {
            tool_missing(&current_test(), "python3", &e.to_string());
            None
        }
    }
}

#[test]
fn every_kubernetes_manifest_validates_against_the_api_schemas() {
    let files = manifests();
    let Some((ok, out)) = validate(&files) else {
        return;
    };
    if out.contains("No module named kubernetes_validate")
        && tool_missing(&current_test(), "kubernetes-validate (PyPI)", out.trim())
    {
        return;
    }
    assert!(ok, "{out}");
    for f in &files {
        assert!(
            out.contains(&format!("{} passed", f.display())),
            "{}: not reported as passed: {out}",
            f.display()
        );
    }
    // The validator does refuse what the API server would: a misspelt field.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(&bad, text.replacen("readOnly: true", "readOnlyy: true", 1)).unwrap();
    let (ok, out) = validate(&[bad]).unwrap();
    assert!(!ok, "a misspelt field passed: {out}");
}

#[test]
fn the_daemonset_mounts_each_node_directory_at_its_node_path() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes/daemonset.yaml");
    let o = match Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&path)
        .output()
    {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            tool_missing(
                &current_test(),
                "python3 with PyYAML",
                &String::from_utf8_lossy(&o.stderr),
            );
            return;
        }
        Err(e) => {
            tool_missing(&current_test(), "python3", &e.to_string());
            return;
        }
    };
    let ds: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    let host_paths: std::collections::HashMap<&str, &str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["hostPath"]["path"].as_str()?)))
        .collect();
    let install = &spec["initContainers"][0];
    let args: Vec<&str> = install["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["kubelet", "install"]);
    let mut mounted = Vec::new();
    for m in install["volumeMounts"].as_array().unwrap() {
        let (name, at) = (
            m["name"].as_str().unwrap(),
            m["mountPath"].as_str().unwrap(),
        );
        if let Some(host) = host_paths.get(name) {
            assert_eq!(
                at, *host,
                "volume {name}: mounted at another path than on the node"
            );
            mounted.push(at);
        }
    }
    // Every node path the installer writes lies in a directory mounted from the node.
    for flag in ["--bin-dir=", "--config=", "--key-file="] {
        let value = args
            .iter()
            .find_map(|a| a.strip_prefix(flag))
            .unwrap_or_else(|| panic!("no {flag}"));
        assert!(
            mounted
                .iter()
                .any(|m| value == *m || value.starts_with(&format!("{m}/"))),
            "{flag}{value} is not on a hostPath mount"
        );
    }
    // The main container only idles; it is not the installer.
    assert_ne!(spec["containers"][0]["image"], install["image"]);
}
