//! Google's pinned endpoints (docs/google.md, "Pinned endpoints"), through the real binary: a
//! credential file naming Google endpoints other than the pinned hosts and paths is refused by
//! `add`, `import` and `get` before anything is read or sent; the loopback stand-in is the
//! operator's (`BETA9_GOOGLE_ENDPOINT_ORIGIN`), never the record's.

use crate::gcp_env::GcpStub;
use crate::support::{Sandbox, CANARY};
use docker_credential_beta9::actions;
use docker_credential_beta9::context::Context;
use docker_credential_beta9::env::Env;
use docker_credential_beta9::record::Record;

// The same Google-only `external_account` file the import policy tests use.
use crate::import_policy::{external, AR};

fn assert_nothing_stored(sb: &Sandbox, what: &str) {
    let listed = sb.list();
    assert_eq!(listed.stdout, "{}\n", "{what}: {listed:?}");
}

/// A record `get` is given by other means than `import` (an older import, the library).
fn save(sb: &Sandbox, registry: &str, json_key: &str) {
    let json = serde_json::json!({"version": 1, "registry": registry, "type": "gcp",
        "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": json_key}});
    let record = Record::decode(json.to_string().as_bytes(), None).unwrap();
    let ctx = Context::from_env(
        Env::from_pairs([
            ("HOME", sb.home().to_str().unwrap()),
            ("BETA9_CREDENTIALS_DIR", sb.store_base().to_str().unwrap()),
        ]),
        None,
    )
    .unwrap();
    actions::save(&ctx, &record, None).unwrap();
}

#[test]
fn google_endpoints_are_pinned_to_exact_hosts_and_paths_before_anything_is_sent() {
    let Some(stub) = GcpStub::start(&format!("ya29.{CANARY}")) else {
        return;
    };
    let sb = Sandbox::new();
    let subject = stub.subject_path();
    let with = |field: &str, url: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&external(serde_json::json!({"file": subject}))).unwrap();
        v[field] = serde_json::json!(url);
        v.to_string()
    };
    let base = stub.base();
    let cases = [
        (
            "token_url",
            "https://storage.googleapis.com/upload/storage/v1/b/tenant/o?uploadType=media&name=t"
                .to_string(),
        ),
        (
            "token_url",
            "https://www.googleapis.com/upload/storage/v1/b/tenant/o".into(),
        ),
        (
            "token_url",
            "https://firebasestorage.googleapis.com/v0/b/tenant/o".into(),
        ),
        (
            "token_url",
            "https://sts.googleapis.com/v1/token?alt=media".into(),
        ),
        ("token_url", "https://sts.googleapis.com/v2/token".into()),
        (
            "service_account_impersonation_url",
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.c:signBlob"
                .into(),
        ),
        (
            "service_account_impersonation_url",
            "https://storage.googleapis.com/upload/x".into(),
        ),
        // The loopback stand-in is the operator's: a record naming it is refused without the
        // setting, and with it only at the pinned paths.
        ("token_url", format!("{base}/v1/token")),
        ("token_url", format!("{base}/upload/x")),
    ];
    for (i, (field, url)) in cases.iter().enumerate() {
        let config = with(field, url);
        let origin = if i == cases.len() - 1 {
            base.as_str()
        } else {
            ""
        };
        let env = [
            ("GOOGLE_APPLICATION_CREDENTIALS_JSON", config.as_str()),
            ("BETA9_GOOGLE_ENDPOINT_ORIGIN", origin),
            ("BETA9_IMPORT_ALLOW", "external-account-file:/"),
        ];
        // add
        let out = sb.run_env(
            &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
            b"",
            &env,
        );
        assert_eq!(out.code, 1, "add {url}: {out:?}");
        assert!(
            out.stderr.contains(&format!("{field} must be https://")),
            "{out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        // import
        let record = serde_json::json!({"version": 1, "registry": AR, "type": "gcp",
            "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": config}});
        let out = sb.run_env(&["import"], record.to_string().as_bytes(), &env);
        assert_eq!(out.code, 1, "import {url}: {out:?}");
        assert!(
            out.stderr.contains(&format!("{field} must be https://")),
            "{out:?}"
        );
        assert_nothing_stored(&sb, url);
        // get of such a record stored before: refused, naming the field, nothing sent.
        save(&sb, AR, &config);
        let out = sb.run_env(&["get"], AR.as_bytes(), &env[1..]);
        assert_eq!(out.code, 1, "get {url}: {out:?}");
        assert!(
            out.stdout.contains(&format!("{field} must be https://")),
            "{out:?}"
        );
        sb.run(&["remove", AR], b"").assert_ok();
    }
    assert_eq!(stub.count(), 0, "nothing reached the stub");
    // The operator's stand-in, at the pinned paths, is used.
    let good = stub.external_json(
        serde_json::json!({"file": subject, "format": {"type": "text"}}),
        true,
    );
    save(&sb, AR, &good);
    let out = sb.run_env(
        &["get"],
        AR.as_bytes(),
        &[("BETA9_GOOGLE_ENDPOINT_ORIGIN", &base)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(stub.count(), 2);
}
