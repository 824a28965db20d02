//! HTTP proxies (docs/proxies.md): a `get` that mints an ECR token and `doctor`'s live check go
//! through the proxy `HTTP_PROXY`/`HTTPS_PROXY` name, honour `NO_PROXY`, never send loopback
//! destinations through one, fail in one line naming the proxy (never its password) when it
//! refuses, and a static `get` never reads the proxy variables at all.
//!
//! The proxy is tests/support/http_proxy.py, a real forward proxy (CONNECT and absolute-form)
//! that connects `*.proxytest.invalid` names to 127.0.0.1: no resolver answers those names, so a
//! request reaches moto or the registry only if it went through the proxy.

use crate::gcp_env::GcpStub;
use crate::harness::{python, Server, ServerSpec};
use crate::moto_env::Moto;
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{current_test, free_port, tool_missing, Out, Sandbox, CANARY};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PASSWORD: &str = "123456789012-auth-token";
const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "PROXY-PASSWORD-do-not-print";

struct Proxy {
    server: Server,
}

impl Proxy {
    /// The proxy on a free loopback port, requiring `PROXY_USER`/`PROXY_PASSWORD`.
    fn start() -> Option<Proxy> {
        Proxy::start_with(&[])
    }

    /// The same with extra arguments (`--tls-front PORT --cert … --key …`).
    fn start_with(extra: &[&str]) -> Option<Proxy> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/http_proxy.py");
        let started = ServerSpec::new("proxy", python()).and_then(|mut spec| {
            let dir = spec.dir().to_path_buf();
            spec.arg(script)
                .arg("--state-dir")
                .arg(dir)
                .args(extra)
                .env("PYTHONUNBUFFERED", "1")
                .env(
                    "BETA9_TEST_PROXY_AUTH",
                    format!("{PROXY_USER}:{PROXY_PASSWORD}"),
                );
            spec.start()
        });
        match started {
            Ok(server) => Some(Proxy { server }),
            Err(e) => {
                tool_missing(&current_test(), "python3", &e);
                None
            }
        }
    }

    /// `http://user:password@127.0.0.1:PORT`, as an operator sets HTTP(S)_PROXY.
    fn url(&self) -> String {
        format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
            self.server.port()
        )
    }

    fn url_with_password(&self, password: &str) -> String {
        format!(
            "http://{PROXY_USER}:{password}@127.0.0.1:{}",
            self.server.port()
        )
    }

    /// One line per request the proxy saw: `CONNECT host:port auth=…` or `FORWARD M host:port auth=…`.
    fn requests(&self) -> Vec<String> {
        fs::read_to_string(self.server.dir().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A CA and a server certificate that also covers `name` (the cryptography package, as for the
/// PostgreSQL tests): ca.pem, server.crt, server.key.
fn tls_material(name: &str) -> Option<tempfile::TempDir> {
    let tls = tempfile::tempdir().unwrap();
    let made = std::process::Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pg_tls.py"))
        .arg(tls.path())
        .arg(name)
        .output();
    match made {
        Ok(o) if o.status.success() => Some(tls),
        other => {
            tool_missing(
                &current_test(),
                "python3 with cryptography",
                &format!("{other:?}"),
            );
            None
        }
    }
}

/// The proxy with an https front for 127.0.0.1:`port`, its certificate from `tls`.
fn proxy_fronting(port: &str, tls: &Path) -> Option<Proxy> {
    let cert = tls.join("server.crt");
    let key = tls.join("server.key");
    Proxy::start_with(&[
        "--tls-front",
        port,
        "--cert",
        &cert.to_string_lossy(),
        "--key",
        &key.to_string_lossy(),
    ])
}

/// The https front's port (`--tls-front`).
fn tls_port(proxy: &Proxy) -> u16 {
    fs::read_to_string(proxy.server.dir().join("tls-port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// moto's port under a name only the proxy can reach.
fn proxied_endpoint(moto: &Moto) -> String {
    let port = moto.endpoint.rsplit(':').next().unwrap();
    format!("http://ecr.proxytest.invalid:{port}")
}

fn add_keys(sb: &Sandbox) {
    sb.run_env(
        &["add", HOST, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIABETA9PROXY000001"),
            ("AWS_SECRET_ACCESS_KEY", CANARY),
        ],
    )
    .assert_ok();
}

fn expected() -> serde_json::Value {
    serde_json::json!({"ServerURL": HOST, "Username": "AWS", "Secret": PASSWORD})
}

fn assert_clean(o: &Out) {
    for secret in [PROXY_PASSWORD, CANARY] {
        assert!(
            !o.stdout.contains(secret) && !o.stderr.contains(secret),
            "{secret} printed: {o:?}"
        );
    }
}

/// A failed `get`: exit 1, one stdout line naming the registry and `words`.
fn assert_one_line(o: &Out, words: &[&str]) {
    assert_eq!(o.code, 1, "{o:?}");
    let line = o.stdout.trim_end();
    assert!(!line.contains('\n') && line.starts_with(HOST), "{o:?}");
    for w in words {
        assert!(line.contains(w), "no {w:?} in {line:?}");
    }
    assert_clean(o);
}

fn cache_dir(sb: &Sandbox) -> std::path::PathBuf {
    sb.path().join("cache")
}

/// A sandbox with the ECR record's keys stored, its API at `endpoint`, its token cache inside it
/// and `timeout` seconds of budget.
fn ecr_sandbox(endpoint: &str, timeout: &str) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", endpoint);
    let cache = cache_dir(&sb).to_string_lossy().into_owned();
    sb.set_env("BETA9_CACHE_DIR", &cache);
    sb.set_env("BETA9_TIMEOUT", timeout);
    add_keys(&sb);
    sb
}

#[test]
fn an_ecr_token_is_minted_through_the_proxy_with_its_credentials() {
    let Some(moto) = Moto::start() else { return };
    let Some(proxy) = Proxy::start() else { return };
    let sb = ecr_sandbox(&proxied_endpoint(&moto), "5");

    // Control: without a proxy the name does not resolve, so nothing reaches moto.
    let direct = sb.get(HOST);
    assert_one_line(&direct, &["unreachable"]);
    assert_eq!(moto.count(), 0);

    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("HTTP_PROXY", &proxy.url())]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json(), expected());
    assert_clean(&o);
    assert_eq!(moto.count(), 1);
    let seen = proxy.requests();
    let port = moto.endpoint.rsplit(':').next().unwrap();
    assert_eq!(
        seen,
        vec![format!("FORWARD POST ecr.proxytest.invalid:{port} auth=ok")],
        "the SDK's request went through the proxy with the URL's credentials"
    );

    // With every diagnostic on, neither the proxy's password nor the keys reach stderr.
    fs::remove_dir_all(cache_dir(&sb)).unwrap();
    let o = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[
            ("HTTP_PROXY", &proxy.url()),
            (
                "BETA9_LOG",
                "trace,aws_smithy_http_client=trace,hyper_util=trace,ureq=trace",
            ),
        ],
    );
    assert_eq!(o.json(), expected());
    assert!(
        o.stderr.contains("GetAuthorizationToken"),
        "logging is on: {o:?}"
    );
    assert_clean(&o);
    assert_eq!(moto.count(), 2);
    assert_eq!(proxy.requests().len(), 2);

    // The lower-case name works the same; a cached token opens no connection at all.
    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("http_proxy", &proxy.url())]);
    assert_eq!(o.json(), expected());
    assert_eq!(proxy.requests().len(), 2);
}

#[test]
fn no_proxy_and_loopback_destinations_go_direct() {
    let Some(moto) = Moto::start() else { return };
    let Some(proxy) = Proxy::start() else { return };

    // NO_PROXY names the endpoint's domain: the request goes direct, so the name fails to resolve
    // and the proxy sees nothing.
    let sb = ecr_sandbox(&proxied_endpoint(&moto), "5");
    let o = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "example.com,.proxytest.invalid"),
        ],
    );
    assert_one_line(&o, &["unreachable"]);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());

    // A loopback endpoint is never proxied, whatever the variables say.
    let sb = ecr_sandbox(&moto.endpoint, "10");
    let o = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[("HTTP_PROXY", &proxy.url()), ("HTTPS_PROXY", &proxy.url())],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json(), expected());
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert_eq!(moto.count(), 1);
}

#[test]
fn a_refusing_or_dead_proxy_is_one_line_naming_it_never_its_password() {
    let Some(moto) = Moto::start() else { return };
    let Some(proxy) = Proxy::start() else { return };
    let sb = ecr_sandbox(&proxied_endpoint(&moto), "4");

    // Wrong proxy password: the proxy answers 407 and the helper says which proxy refused.
    let wrong = proxy.url_with_password("WRONG-PROXY-PASSWORD");
    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("HTTP_PROXY", &wrong)]);
    assert_one_line(
        &o,
        &[
            &format!(
                "through the proxy in HTTP_PROXY (127.0.0.1:{})",
                proxy.server.port()
            ),
            "access denied",
            "407 Proxy Authentication Required",
        ],
    );
    assert!(
        !o.stdout.contains("WRONG-PROXY-PASSWORD") && !o.stderr.contains("WRONG-PROXY-PASSWORD")
    );
    assert_eq!(moto.count(), 0);
    let seen = proxy.requests();
    assert!(
        !seen.is_empty() && seen.iter().all(|l| l.ends_with("auth=wrong")),
        "the request reached the proxy with the wrong password: {seen:?}"
    );
    eprintln!("407 from the proxy: {}", o.stdout.trim_end());

    // Nothing listening where the proxy should be: one line within the budget.
    let dead = format!(
        "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
        free_port()
    );
    let start = Instant::now();
    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("HTTP_PROXY", &dead)]);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_one_line(&o, &["unreachable", "through the proxy in HTTP_PROXY"]);
    eprintln!("dead proxy: {}", o.stdout.trim_end());

    // A SOCKS or unparsable proxy: one line naming the variable, nothing sent.
    for bad in [
        "socks5://u:PROXY-PASSWORD-do-not-print@127.0.0.1:1080",
        "ftp://u:PROXY-PASSWORD-do-not-print@p:21",
    ] {
        let o = sb.run_env(&["get"], HOST.as_bytes(), &[("HTTP_PROXY", bad)]);
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stdout.contains("HTTP_PROXY"), "{o:?}");
        assert_clean(&o);
    }
    assert_eq!(moto.count(), 0);
}

#[test]
fn a_static_get_never_reads_the_proxy_variables() {
    let sb = Sandbox::new();
    sb.store("registry.example.com", "user", CANARY).assert_ok();
    let mut c = sb.cmd(&["get"]);
    c.env("HTTPS_PROXY", "socks5://not-a-usable-proxy:1080");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        c.env("NO_PROXY", std::ffi::OsString::from_vec(vec![b'x', 0xff]));
    }
    let o = sb.run_with(c, b"registry.example.com");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["Secret"], CANARY);
}

#[test]
fn doctor_checks_the_registry_through_the_proxy_a_client_would_use() {
    let t = "proxy::doctor_checks_the_registry_through_the_proxy_a_client_would_use";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let Some(proxy) = Proxy::start() else { return };
    let reg = Registry::start("beta9-tester", CANARY);
    let push = reg.dir().join("push-auth.json");
    kit::write_plain_auth_file(&push, &reg.host, "beta9-tester", CANARY);
    kit::push_tiny_image(&reg, "beta9/tiny", "v1", &push);
    fs::remove_file(&push).unwrap();

    let name = format!("registry.proxytest.invalid:{}", reg.port);
    let mut sb = Sandbox::new();
    sb.set_env("BETA9_TIMEOUT", "5");
    let run_dir = sb.path().join("run").to_string_lossy().into_owned();
    sb.set_env("XDG_RUNTIME_DIR", &run_dir);
    sb.store(&name, "beta9-tester", CANARY).assert_ok();
    let image = format!("{name}/beta9/tiny:v1");
    let run = |extra: &[(&str, &str)]| {
        let o = sb.run_env(&["doctor", &image, "--plain-http"], b"", extra);
        assert_clean(&o);
        o
    };
    let line = |o: &Out, step: &str| -> String {
        o.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(step))
            .unwrap_or_else(|| panic!("no {step} line: {o:?}"))
            .to_string()
    };

    let o = run(&[("HTTP_PROXY", &proxy.url())]);
    for step in ["connect", "auth", "manifest"] {
        assert!(line(&o, step).starts_with("ok "), "{step}: {o:?}");
    }
    assert!(
        line(&o, "connect").contains(&format!(
            "through the proxy in HTTP_PROXY (127.0.0.1:{})",
            proxy.server.port()
        )),
        "{o:?}"
    );
    let seen = proxy.requests();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen.iter().all(|l| l == &format!("CONNECT {name} auth=ok")),
        "{seen:?}"
    );

    // Control: without the proxy the name does not resolve.
    let o = run(&[]);
    assert!(line(&o, "connect").starts_with("FAIL "), "{o:?}");
    assert!(line(&o, "connect").contains("host name not found"), "{o:?}");
    assert_eq!(o.code, 1);
}

#[test]
fn an_https_api_is_reached_through_a_connect_tunnel_with_the_systems_trust() {
    let Some(moto) = Moto::start() else { return };
    let Some(tls) = tls_material("ecr.proxytest.invalid") else {
        return;
    };
    let moto_port = moto.endpoint.rsplit(':').next().unwrap().to_string();
    let Some(proxy) = proxy_fronting(&moto_port, tls.path()) else {
        return;
    };
    let front = tls_port(&proxy);
    let mut sb = ecr_sandbox(&format!("https://ecr.proxytest.invalid:{front}"), "5");
    sb.set_env("HTTPS_PROXY", &proxy.url());
    // HTTP_PROXY is for http:// destinations only: pointing it elsewhere changes nothing here.
    sb.set_env("HTTP_PROXY", &format!("http://127.0.0.1:{}", free_port()));

    // Control: the test CA is not trusted, so the TLS handshake inside the tunnel fails.
    let o = sb.get(HOST);
    assert_one_line(&o, &["unreachable", "through the proxy in HTTPS_PROXY"]);
    assert_eq!(moto.count(), 0);
    // (the SDK retries a failed handshake once)
    let tunnel = format!("CONNECT ecr.proxytest.invalid:{front} auth=ok");
    let before = proxy.requests();
    assert!(
        !before.is_empty() && before.iter().all(|l| l == &tunnel),
        "{before:?}"
    );

    // Trusted through SSL_CERT_FILE (docs/proxies.md): the token arrives through the tunnel.
    let ca = tls.path().join("ca.pem").to_string_lossy().into_owned();
    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("SSL_CERT_FILE", &ca)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json(), expected());
    assert_clean(&o);
    assert_eq!(moto.count(), 1);
    let after = proxy.requests();
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert_eq!(after.last(), Some(&tunnel));
}

#[test]
fn a_google_token_is_minted_through_the_proxy_and_the_metadata_server_never_is() {
    const AR: &str = "us-docker.pkg.dev";
    const TOKEN: &str = "ya29.proxied-google-token";
    let Some(mut stub) = GcpStub::start(TOKEN) else {
        return;
    };
    let Some(tls) = tls_material("oauth.proxytest.invalid") else {
        return;
    };
    let stub_port = stub.token_uri.rsplit(':').next().unwrap();
    let stub_port = stub_port.trim_end_matches("/token").to_string();
    let Some(proxy) = proxy_fronting(&stub_port, tls.path()) else {
        return;
    };
    // The key's token_uri names the endpoint under a name only the proxy reaches, over https
    // (a key's token endpoint must be https unless it is on loopback).
    let uri = format!("https://oauth.proxytest.invalid:{}/token", tls_port(&proxy));
    stub.token_uri = uri.clone();
    stub.set_audience(&uri);
    let mut sb = Sandbox::new();
    let cache = cache_dir(&sb).to_string_lossy().into_owned();
    sb.set_env("BETA9_CACHE_DIR", &cache);
    sb.set_env("BETA9_TIMEOUT", "5");
    let ca = tls.path().join("ca.pem").to_string_lossy().into_owned();
    sb.set_env("SSL_CERT_FILE", &ca);
    sb.run_env(
        &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &stub.key_json())],
    )
    .assert_ok();

    // Control: direct, the name does not resolve.
    let o = sb.get(AR);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("unreachable"), "{o:?}");
    assert_eq!(stub.count(), 0);

    let o = sb.run_env(
        &["get"],
        AR.as_bytes(),
        &[
            ("https_proxy", &proxy.url()),
            (
                "BETA9_LOG",
                "trace,ureq=trace,ureq_proto=trace,rustls=trace",
            ),
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("minting a Google access token"),
        "logging is on: {o:?}"
    );
    assert_eq!(
        o.json(),
        serde_json::json!({"ServerURL": AR, "Username": "oauth2accesstoken", "Secret": TOKEN})
    );
    assert_clean(&o);
    assert_eq!(stub.count(), 1, "{}", stub.last_error());
    let front = tls_port(&proxy);
    assert_eq!(
        proxy.requests(),
        vec![format!("CONNECT oauth.proxytest.invalid:{front} auth=ok")]
    );

    // The metadata server is this machine's own: never through a proxy, even when its name is
    // one only the proxy could reach.
    let sb = {
        let mut sb = Sandbox::new();
        let cache = cache_dir(&sb).to_string_lossy().into_owned();
        sb.set_env("BETA9_CACHE_DIR", &cache);
        sb.set_env("BETA9_TIMEOUT", "3");
        sb.set_env(
            "GCE_METADATA_HOST",
            &format!("metadata.proxytest.invalid:{stub_port}"),
        );
        sb.set_env("HTTP_PROXY", &proxy.url());
        sb.set_env("HTTPS_PROXY", &proxy.url());
        sb
    };
    sb.run_env(&["add", AR, "GCP_METADATA"], b"", &[("GCP_METADATA", "1")])
        .assert_ok();
    let o = sb.get(AR);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("metadata server"), "{o:?}");
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_eq!(stub.count(), 1);
}

#[test]
fn an_https_proxy_is_reached_over_tls_from_both_http_stacks() {
    let Some(moto) = Moto::start() else { return };
    let Some(stub) = GcpStub::start("ya29.through-an-https-proxy") else {
        return;
    };
    // One CA for everything: the proxy's own TLS (localhost) and the token endpoint's front.
    let Some(tls) = tls_material("oauth.proxytest.invalid") else {
        return;
    };
    let Some(proxy) = proxy_fronting("0", tls.path()) else {
        return;
    };
    let https_proxy = format!(
        "https://{PROXY_USER}:{PROXY_PASSWORD}@localhost:{}",
        tls_port(&proxy)
    );
    let ca = tls.path().join("ca.pem").to_string_lossy().into_owned();

    // The AWS SDK's client: TLS to the proxy, then the request in absolute form.
    let sb = ecr_sandbox(&proxied_endpoint(&moto), "5");
    let o = sb.run_env(&["get"], HOST.as_bytes(), &[("HTTP_PROXY", &https_proxy)]);
    assert_one_line(&o, &["unreachable", "through the proxy in HTTP_PROXY"]);
    assert!(
        proxy.requests().is_empty(),
        "untrusted: nothing reached the proxy"
    );
    let o = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[("HTTP_PROXY", &https_proxy), ("SSL_CERT_FILE", &ca)],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json(), expected());
    assert_clean(&o);
    let port = moto.endpoint.rsplit(':').next().unwrap();
    assert_eq!(
        proxy.requests(),
        vec![format!("FORWARD POST ecr.proxytest.invalid:{port} auth=ok")]
    );

    // ureq: TLS to the proxy, a CONNECT tunnel inside it, TLS to the token endpoint inside that.
    let stub_port = stub
        .token_uri
        .trim_end_matches("/token")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let Some(front) = proxy_fronting(&stub_port, tls.path()) else {
        return;
    };
    let uri = format!("https://oauth.proxytest.invalid:{}/token", tls_port(&front));
    stub.set_audience(&uri);
    let mut key: serde_json::Value = serde_json::from_str(&stub.key_json()).unwrap();
    key["token_uri"] = serde_json::json!(uri);
    let mut sb = Sandbox::new();
    let cache = cache_dir(&sb).to_string_lossy().into_owned();
    sb.set_env("BETA9_CACHE_DIR", &cache);
    sb.set_env("BETA9_TIMEOUT", "5");
    sb.set_env("SSL_CERT_FILE", &ca);
    sb.set_env("HTTPS_PROXY", &https_proxy);
    sb.run_env(
        &[
            "add",
            "us-docker.pkg.dev",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key.to_string())],
    )
    .assert_ok();
    let o = sb.get("us-docker.pkg.dev");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["Secret"], "ya29.through-an-https-proxy");
    assert_clean(&o);
    assert_eq!(stub.count(), 1, "{}", stub.last_error());
    assert_eq!(
        proxy.requests().last(),
        Some(&format!(
            "CONNECT oauth.proxytest.invalid:{} auth=ok",
            tls_port(&front)
        ))
    );
}

#[test]
fn every_spelling_of_loopback_goes_direct() {
    let Some(moto) = Moto::start() else { return };
    let Some(proxy) = Proxy::start() else { return };
    let port = moto.endpoint.rsplit(':').next().unwrap().to_string();
    // What the system resolver reads as this machine (inet_aton's forms, a fully qualified
    // `localhost.`, an IPv4-mapped IPv6 address): none may reach the proxy.
    let spellings = [
        "127.1",
        "127.0.1",
        "0x7f.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "localhost.",
        "LOCALHOST",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
    ];
    let mut minted = 0;
    for host in spellings {
        let sb = ecr_sandbox(&format!("http://{host}:{port}"), "10");
        let o = sb.run_env(
            &["get"],
            HOST.as_bytes(),
            &[("HTTP_PROXY", &proxy.url()), ("HTTPS_PROXY", &proxy.url())],
        );
        assert!(
            proxy.requests().is_empty(),
            "{host}: {:?}",
            proxy.requests()
        );
        assert!(!o.stdout.contains("through the proxy"), "{host}: {o:?}");
        if host.to_ascii_lowercase().starts_with("localhost") {
            // A name: whether this machine's resolver knows `localhost.` is its business; what
            // matters is that the proxy never saw it.
            minted += u64::from(o.code == 0);
            continue;
        }
        assert_eq!(o.code, 0, "{host}: {o:?}");
        assert_eq!(o.json(), expected(), "{host}");
        minted += 1;
        assert_eq!(moto.count(), minted, "{host}");
    }
}

#[test]
fn a_proxy_refusing_the_https_tunnel_is_access_denied_not_unreachable() {
    let Some(moto) = Moto::start() else { return };
    let Some(tls) = tls_material("ecr.proxytest.invalid") else {
        return;
    };
    let moto_port = moto.endpoint.rsplit(':').next().unwrap().to_string();
    let Some(proxy) = proxy_fronting(&moto_port, tls.path()) else {
        return;
    };
    let front = tls_port(&proxy);
    let sb = ecr_sandbox(&format!("https://ecr.proxytest.invalid:{front}"), "5");
    let ca = tls.path().join("ca.pem").to_string_lossy().into_owned();
    // The proxy answers the CONNECT with 407: the documented access-denied line, naming the
    // proxy, never its password; the same as on the http path.
    let wrong = proxy.url_with_password("WRONG-PROXY-PASSWORD");
    let o = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[("HTTPS_PROXY", &wrong), ("SSL_CERT_FILE", &ca)],
    );
    assert_one_line(
        &o,
        &[
            &format!(
                "through the proxy in HTTPS_PROXY (127.0.0.1:{})",
                proxy.server.port()
            ),
            "access denied",
            "407 Proxy Authentication Required",
        ],
    );
    assert!(!o.stdout.contains("unreachable"), "{o:?}");
    assert!(
        !o.stdout.contains("WRONG-PROXY-PASSWORD") && !o.stderr.contains("WRONG-PROXY-PASSWORD")
    );
    let seen = proxy.requests();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|l| l.starts_with("CONNECT ") && l.ends_with("auth=wrong")),
        "{seen:?}"
    );
    assert_eq!(moto.count(), 0);
}

#[test]
fn a_proxy_refusing_a_google_token_request_is_access_denied_not_unreachable() {
    const AR: &str = "us-docker.pkg.dev";
    let Some(mut stub) = GcpStub::start("ya29.never-minted") else {
        return;
    };
    let Some(tls) = tls_material("oauth.proxytest.invalid") else {
        return;
    };
    let stub_port = stub.token_uri.rsplit(':').next().unwrap();
    let stub_port = stub_port.trim_end_matches("/token").to_string();
    let Some(proxy) = proxy_fronting(&stub_port, tls.path()) else {
        return;
    };
    let uri = format!("https://oauth.proxytest.invalid:{}/token", tls_port(&proxy));
    stub.token_uri = uri.clone();
    stub.set_audience(&uri);
    let mut sb = Sandbox::new();
    let cache = cache_dir(&sb).to_string_lossy().into_owned();
    sb.set_env("BETA9_CACHE_DIR", &cache);
    sb.set_env("BETA9_TIMEOUT", "5");
    let ca = tls.path().join("ca.pem").to_string_lossy().into_owned();
    sb.set_env("SSL_CERT_FILE", &ca);
    sb.run_env(
        &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &stub.key_json())],
    )
    .assert_ok();

    let wrong = proxy.url_with_password("WRONG-PROXY-PASSWORD");
    let o = sb.run_env(&["get"], AR.as_bytes(), &[("HTTPS_PROXY", &wrong)]);
    assert_eq!(o.code, 1, "{o:?}");
    let line = o.stdout.trim_end();
    assert!(!line.contains('\n') && line.starts_with(AR), "{o:?}");
    for w in [
        "access denied",
        "407 Proxy Authentication Required",
        &format!(
            "through the proxy in HTTPS_PROXY (127.0.0.1:{})",
            proxy.server.port()
        ),
    ] {
        assert!(line.contains(w), "no {w:?} in {line:?}");
    }
    assert!(!line.contains("unreachable"), "{line}");
    assert!(
        !o.stdout.contains("WRONG-PROXY-PASSWORD") && !o.stderr.contains("WRONG-PROXY-PASSWORD")
    );
    assert_clean(&o);
    // Refused credentials are not retried.
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].ends_with("auth=wrong"), "{seen:?}");
    assert_eq!(stub.count(), 0);
}
