//! Azure Container Registry through the real binary, as docker and the platform's workers run it:
//! the platform's `azure` records (every shape `import` reads) answered with the service
//! principal's client id and secret, `add` detecting `azure`, the type in `show`/`ls`/`export`,
//! and an `azure` record for a host outside `*.azurecr.{io,cn,us}` refused and never answered
//! (docs/records.md, "Static registries" and "Cloud records on other hosts").

use crate::support::{Out, Sandbox, CANARY};
use docker_credential_beta9::actions;
use docker_credential_beta9::context::Context;
use docker_credential_beta9::env::Env;
use docker_credential_beta9::record::Record;

const ACR: &str = "myacr.azurecr.io";
/// An application (client) id: an identifier, shown by `list`, never a secret.
const CLIENT_ID: &str = "0b3d6c2e-5f4a-4e8b-9c1d-2a7f8e6b4c3d";
const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The client secret: CANARY, so every non-answer output is grepped for it.
const SECRET: &str = CANARY;

/// The one answer `get` owes docker for `server_url`, byte for byte (Go's encoder adds the newline).
fn expected_bytes(server_url: &str) -> String {
    format!(
        "{{\"ServerURL\":\"{server_url}\",\"Username\":\"{CLIENT_ID}\",\"Secret\":\"{SECRET}\"}}\n"
    )
}

fn assert_answers(out: &Out, server_url: &str) {
    out.assert_ok();
    assert_eq!(
        out.json(),
        serde_json::json!({"ServerURL": server_url, "Username": CLIENT_ID, "Secret": SECRET}),
        "{out:?}"
    );
    assert_eq!(out.stdout, expected_bytes(server_url), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

/// The platform's shipped record (beta9 `pkg/registry/credentials.go`): no `version`, type `azure`.
fn shipped(registry: &str) -> serde_json::Value {
    serde_json::json!({
        "registry": registry,
        "type": "azure",
        "credentials": {
            "AZURE_CLIENT_ID": CLIENT_ID,
            "AZURE_CLIENT_SECRET": SECRET,
            "AZURE_TENANT_ID": TENANT_ID,
        },
    })
}

fn v1(registry: &str) -> serde_json::Value {
    let mut v = shipped(registry);
    v["version"] = 1.into();
    v
}

fn flat() -> serde_json::Value {
    shipped(ACR)["credentials"].clone()
}

/// The scheduler's `ContainerRequest.ImageCredentials`: the shipped record as a JSON string.
fn wrapped(registry: &str) -> serde_json::Value {
    serde_json::json!({"ImageCredentials": shipped(registry).to_string()})
}

fn sp_env() -> [(&'static str, &'static str); 3] {
    [
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", SECRET),
        ("AZURE_TENANT_ID", TENANT_ID),
    ]
}

/// A user error: exit 1, nothing on stdout, one `error: ...` line, no secret anywhere.
fn assert_refused(out: &Out, needle: &str) {
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{out:?}");
    assert!(out.stderr.contains(needle), "{needle:?} not in {out:?}");
    assert!(!out.stderr.contains(SECRET), "{out:?}");
}

fn assert_not_found(sb: &Sandbox, url: &str) {
    let out = sb.get(url);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "credentials not found in native keychain\n"),
        "{url}: {out:?}"
    );
}

/// `show`, `ls`, `ls --json`, `list` and `export` all know the entry is an azure record for `ACR`,
/// and only `export` prints the secret.
fn assert_known_as_azure(sb: &Sandbox) {
    let show = sb.run(&["show", ACR], b"");
    show.assert_ok();
    assert!(show.stdout.contains("type:        azure\n"), "{show:?}");
    for name in ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"] {
        assert!(show.stdout.contains(name), "{name}: {show:?}");
    }
    let show_json = sb.run(&["show", ACR, "--json"], b"");
    assert_eq!(show_json.json()["type"], "azure", "{show_json:?}");

    let ls = sb.run(&["ls"], b"");
    ls.assert_ok();
    let row = ls
        .stdout
        .lines()
        .find(|l| l.starts_with(ACR))
        .unwrap_or_else(|| panic!("no row for {ACR}: {ls:?}"));
    assert_eq!(row.split_whitespace().nth(1), Some("azure"), "{ls:?}");
    let ls_json = sb.run(&["ls", "--json"], b"");
    assert_eq!(ls_json.json()[0]["type"], "azure", "{ls_json:?}");

    // docker's `list`: the client id is the username (an identifier, not a secret).
    let list = sb.list();
    list.assert_ok();
    assert_eq!(list.json(), serde_json::json!({ACR: CLIENT_ID}), "{list:?}");

    for out in [&show, &show_json, &ls, &ls_json, &list] {
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "{out:?}"
        );
    }

    let export = sb.run(&["export", ACR], b"");
    export.assert_ok();
    assert_eq!(export.json(), v1(ACR), "{export:?}");
    assert_eq!(
        export.stdout,
        format!(
            "{{\"version\":1,\"registry\":\"{ACR}\",\"type\":\"azure\",\"credentials\":{{\"AZURE_CLIENT_ID\":\"{CLIENT_ID}\",\"AZURE_CLIENT_SECRET\":\"{SECRET}\",\"AZURE_TENANT_ID\":\"{TENANT_ID}\"}}}}\n"
        )
    );
}

#[test]
fn each_platform_record_shape_is_imported_and_get_answers_the_client_id_and_secret() {
    let shapes: [(&str, Vec<&str>, serde_json::Value, &str); 5] = [
        ("shipped", vec![], shipped(ACR), "a beta9 record"),
        (
            "ImageCredentials",
            vec![],
            wrapped(ACR),
            "a wrapped ImageCredentials value",
        ),
        (
            "flat map",
            vec!["--registry", ACR],
            flat(),
            "a NAME→value map",
        ),
        ("version 1", vec![], v1(ACR), "a version-1 record"),
        (
            "flat map, server URL",
            vec!["--registry", "https://MyAcr.AzureCR.io/"],
            flat(),
            "a NAME→value map",
        ),
    ];
    for (what, extra, record, format) in shapes {
        let sb = Sandbox::new();
        let args: Vec<&str> = ["import"].into_iter().chain(extra).collect();
        let out = sb.run(&args, record.to_string().as_bytes());
        out.assert_ok();
        assert!(out.stdout.starts_with("oci-creds-"), "{what}: {out:?}");
        assert!(
            out.stderr.contains(&format!(
                "imported azure credentials for {ACR} in workspace default (from {format})"
            )),
            "{what}: {out:?}"
        );
        assert!(!out.stderr.contains(SECRET), "{what}: {out:?}");
        // The name is the registry's, the same for every shape.
        let name = sb.run(&["secret-name", ACR], b"");
        assert_eq!(out.stdout, name.stdout, "{what}");

        assert_answers(&sb.get(ACR), ACR);
        assert_known_as_azure(&sb);
        sb.assert_not_on_disk(SECRET);
        sb.assert_not_on_disk(CLIENT_ID);
    }
}

#[test]
fn a_shipped_record_with_an_empty_tenant_keeps_the_pair_and_drops_the_empty_value() {
    // beta9's records carry empty optional fields; ACR needs only the client id and secret.
    let sb = Sandbox::new();
    let mut record = shipped(ACR);
    record["credentials"]["AZURE_TENANT_ID"] = "".into();
    let out = sb.run(&["import"], record.to_string().as_bytes());
    out.assert_ok();
    assert!(
        out.stderr.contains("dropped empty values: AZURE_TENANT_ID"),
        "{out:?}"
    );
    assert_answers(&sb.get(ACR), ACR);
    let export = sb.run(&["export", ACR], b"").json();
    assert_eq!(
        export["credentials"],
        serde_json::json!({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": SECRET})
    );
}

#[test]
fn the_legacy_user_pass_line_for_an_acr_host_is_a_generic_login_with_the_same_answer() {
    // The platform's fourth shape names no type: it stays a plain login, answered as stored.
    let sb = Sandbox::new();
    let line = format!("{CLIENT_ID}:{SECRET}");
    let out = sb.run(&["import", "--registry", ACR], line.as_bytes());
    out.assert_ok();
    assert!(
        out.stderr.contains("imported generic credentials"),
        "{out:?}"
    );
    assert_answers(&sb.get(ACR), ACR);
}

#[test]
fn get_answers_every_spelling_docker_uses_for_the_same_registry() {
    let sb = Sandbox::new();
    sb.run(&["import"], shipped(ACR).to_string().as_bytes())
        .assert_ok();
    // ServerURL is echoed as docker sent it; scheme, case, trailing `/` and `:443` fold away.
    for url in [
        ACR,
        "https://myacr.azurecr.io",
        "https://myacr.azurecr.io/",
        "MYACR.AZURECR.IO",
        "myacr.azurecr.io:443",
    ] {
        assert_answers(&sb.get(url), url);
    }
    // Another port, another repository path, another registry: exact keys only.
    assert_not_found(&sb, "myacr.azurecr.io:5000");
    assert_not_found(&sb, "myacr.azurecr.io/team/app");
    assert_not_found(&sb, "other1.azurecr.io");
}

#[test]
fn add_with_the_three_variables_detects_azure() {
    let sb = Sandbox::new();
    let out = sb.run_env(
        &[
            "add",
            ACR,
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
        ],
        b"",
        &sp_env(),
    );
    out.assert_ok();
    assert!(
        out.stderr
            .contains("stored azure credentials for myacr.azurecr.io in workspace default"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(SECRET), "{out:?}");
    assert_answers(&sb.get(ACR), ACR);
    assert_known_as_azure(&sb);
    sb.assert_not_on_disk(SECRET);
}

#[test]
fn add_detects_azure_from_the_names_alone_or_from_the_host() {
    // An image reference, the variables named: names first.
    let sb = Sandbox::new();
    sb.run_env(
        &[
            "add",
            "myacr.azurecr.io/team/app:1.0",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
        ],
        b"",
        &sp_env(),
    )
    .assert_ok();
    assert_answers(&sb.get(ACR), ACR);

    // No names: the host says azure, and the type's variables are read from the environment.
    let sb = Sandbox::new();
    let out = sb.run_env(&["add", ACR], b"", &sp_env());
    out.assert_ok();
    assert!(out.stderr.contains("stored azure credentials"), "{out:?}");
    assert_known_as_azure(&sb);
    assert_answers(&sb.get(ACR), ACR);

    // --json and --type azure, without the optional tenant: the China and US Government clouds,
    // a registry with a domain name label hash, a geo-replica's regional login server.
    for host in [
        "myacr.azurecr.cn",
        "myacr.azurecr.us",
        "myacr-b4c9f2e1d0a3.azurecr.io",
        "myacr.eastus2.geo.azurecr.io",
    ] {
        let sb = Sandbox::new();
        let body = serde_json::json!({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": SECRET});
        let out = sb.run(
            &["add", host, "--json", "--type", "azure"],
            body.to_string().as_bytes(),
        );
        out.assert_ok();
        assert_answers(&sb.get(host), host);
    }
}

#[test]
fn add_names_what_an_azure_record_lacks_and_never_echoes_a_value() {
    let sb = Sandbox::new();
    let out = sb.run_env(
        &["add", ACR, "AZURE_CLIENT_ID"],
        b"",
        &[("AZURE_CLIENT_ID", CLIENT_ID)],
    );
    assert_refused(&out, "record needs AZURE_CLIENT_SECRET");
    let out = sb.run_env(
        &["add", ACR, "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
        b"",
        &[("AZURE_CLIENT_ID", CLIENT_ID), ("AZURE_CLIENT_SECRET", "")],
    );
    assert_refused(&out, "AZURE_CLIENT_SECRET is empty");
    // An Azure name beside a GitHub token: foreign to the detected type, refused.
    let out = sb.run_env(
        &[
            "add",
            ACR,
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "GITHUB_TOKEN",
        ],
        b"",
        &[
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", SECRET),
            ("GITHUB_TOKEN", SECRET),
        ],
    );
    assert_refused(&out, "GITHUB_TOKEN is not an azure credential name");
    assert_not_found(&sb, ACR);
}

/// The spoofed and foreign hosts an azure record must never be answered for.
const NOT_ACR: [&str; 2] = ["ghcr.io", "myacr.azurecr.io.evil.example"];

#[test]
fn an_azure_record_for_a_host_outside_acr_is_refused_by_add_and_import() {
    for host in NOT_ACR {
        let sb = Sandbox::new();
        let refusal = "not an Azure Container Registry host";
        let out = sb.run_env(
            &[
                "add",
                host,
                "AZURE_CLIENT_ID",
                "AZURE_CLIENT_SECRET",
                "AZURE_TENANT_ID",
            ],
            b"",
            &sp_env(),
        );
        assert_refused(&out, refusal);
        let out = sb.run_env(&["add", host, "--type", "azure"], b"", &sp_env());
        assert_refused(&out, refusal);
        for (what, extra, record) in [
            ("shipped", vec![], shipped(host)),
            ("ImageCredentials", vec![], wrapped(host)),
            ("version 1", vec![], v1(host)),
            ("flat map", vec!["--registry", host], flat()),
        ] {
            let args: Vec<&str> = ["import"].into_iter().chain(extra).collect();
            let out = sb.run(&args, record.to_string().as_bytes());
            assert_eq!(out.code, 1, "{host} {what}: {out:?}");
            assert_refused(&out, refusal);
        }
        assert_not_found(&sb, host);
        let ls = sb.run(&["ls", "--json"], b"");
        assert_eq!(ls.json(), serde_json::json!([]), "{host}: {ls:?}");
        sb.assert_not_on_disk(SECRET);
    }
}

#[test]
fn an_azure_record_for_a_host_outside_acr_is_never_answered() {
    for host in NOT_ACR {
        let sb = Sandbox::new();
        // `add` and `import` refuse such a record; it can still arrive by other means (an older
        // helper's store, a copied entry), so it is planted through the library.
        let ctx = Context::from_env(
            Env::from_pairs([
                ("HOME", sb.home().to_str().unwrap()),
                ("BETA9_CREDENTIALS_DIR", sb.store_base().to_str().unwrap()),
            ]),
            None,
        )
        .unwrap();
        let record = Record::decode(v1(host).to_string().as_bytes(), None).unwrap();
        actions::save(&ctx, &record, None).unwrap();

        for url in [host.to_string(), format!("https://{host}")] {
            let out = sb.get(&url);
            assert_eq!(out.code, 1, "{url}: {out:?}");
            assert_eq!(out.stdout.lines().count(), 1, "{url}: {out:?}");
            assert_eq!(
                out.stdout,
                format!("{host}: an azure record is only used for Azure Container Registry hosts (<name>.azurecr.io, <name>.azurecr.cn, <name>.azurecr.us); nothing was sent\n"),
                "{url}"
            );
            for leaked in [SECRET, CLIENT_ID, TENANT_ID] {
                assert!(
                    !out.stdout.contains(leaked) && !out.stderr.contains(leaked),
                    "{url}: {out:?}"
                );
            }
        }
        // With diagnostics on, still nothing.
        let out = sb.run_env(&["get"], host.as_bytes(), &[("BETA9_LOG", "trace")]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "{out:?}"
        );
        // The kubelet plugin goes through the same resolver.
        let request = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": format!("{host}/team/app:1"),
        });
        let out = sb.run(&["kubelet"], request.to_string().as_bytes());
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "{out:?}"
        );
        // `list` still answers, without the secret.
        let list = sb.list();
        list.assert_ok();
        assert_eq!(list.json()[host], CLIENT_ID, "{list:?}");
        assert!(!list.stdout.contains(SECRET));
    }
}

#[test]
fn kubelet_gets_the_service_principal_for_an_acr_image() {
    let sb = Sandbox::new();
    sb.run(&["import"], shipped(ACR).to_string().as_bytes())
        .assert_ok();
    let request = serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": "myacr.azurecr.io/team/app:1.0",
    });
    let out = sb.run(&["kubelet"], request.to_string().as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    // One login, keyed by the registry or the image's repository (kubelet's match key), holding
    // the client id and secret; the cache key type and duration are the kubelet module's business.
    let v = out.json();
    let auth = v["auth"].as_object().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(auth.len(), 1, "{out:?}");
    let (key, login) = auth.iter().next().unwrap();
    assert!(key == ACR || key.starts_with(&format!("{ACR}/")), "{out:?}");
    assert_eq!(
        *login,
        serde_json::json!({"username": CLIENT_ID, "password": SECRET})
    );
    assert!(!out.stderr.contains(SECRET), "{out:?}");
}

#[test]
fn a_docker_login_to_an_acr_host_stays_a_generic_login() {
    // `docker login myacr.azurecr.io -u <client id>`: an explicit login wins over detection.
    let sb = Sandbox::new();
    sb.store(ACR, CLIENT_ID, SECRET).assert_ok();
    assert_answers(&sb.get(ACR), ACR);
    let show = sb.run(&["show", ACR, "--json"], b"");
    assert_eq!(show.json()["type"], "generic", "{show:?}");
    assert_eq!(
        sb.run(&["export", ACR], b"").json()["credentials"],
        serde_json::json!({"USERNAME": CLIENT_ID, "PASSWORD": SECRET})
    );
    // docker logout.
    sb.erase(ACR).assert_ok();
    assert_not_found(&sb, ACR);
}
