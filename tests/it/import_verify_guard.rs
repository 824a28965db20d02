//! `import --verify` may not aim the worker at itself, the metadata server or the private network
//! (docs/records.md, "Verify targets"): a tenant's record naming a loopback registry, or a
//! registry whose challenge names a loopback token endpoint, is refused before a single
//! connection, in every input shape; `BETA9_IMPORT_ALLOW=verify-host:HOST:PORT` opens exactly
//! that host and port. The registry is Debian's `docker-registry` (htpasswd), reached through a
//! loopback listener that counts the connections it forwards; the Bearer case is a small stub
//! registry this test runs, whose realm is a listener that counts connections too. Every
//! listener stops when the test drops it. Runs are bounded by `BETA9_TIMEOUT` and a 60 s kill.

use crate::doctor::USER;
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{Out, Sandbox, CANARY};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What a listener does with each connection it accepts (and counts).
#[derive(Clone)]
enum Role {
    /// Pipes the bytes both ways to this loopback port.
    Forward(u16),
    /// Closes a TLS hello at once (so https fails fast); answers any HTTP request with this.
    Answer(String),
}

/// A loopback listener counting the connections it accepts; stops when dropped.
struct Counting {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Counting {
    fn start(role: Role) -> Counting {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt) = (count.clone(), stop.clone());
        thread::spawn(move || {
            for c in l.incoming() {
                // Drop wakes the accept with a connection of its own after setting the flag.
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(c) = c else { continue };
                n.fetch_add(1, Ordering::SeqCst);
                let role = role.clone();
                thread::spawn(move || serve(c, role));
            }
        });
        Counting { port, count, stop }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut c: TcpStream, role: Role) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    match role {
        Role::Forward(port) => {
            let Ok(up) = TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let t = thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut up2);
                let _ = up2.shutdown(Shutdown::Write);
            });
            let mut up = up;
            let _ = std::io::copy(&mut up, &mut c);
            let _ = c.shutdown(Shutdown::Write);
            let _ = t.join();
        }
        Role::Answer(reply) => {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => return,
                }
                // A TLS ClientHello starts with 0x16: this stub speaks plain http only.
                if head == [0x16] {
                    return;
                }
            }
            let _ = c.write_all(reply.as_bytes());
        }
    }
}

fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    s.set_env("BETA9_TIMEOUT", "5");
    s
}

/// `import ARGS` with `stdin` and `env`, killed after 60 s; the password never printed.
fn import(s: &Sandbox, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
    let mut c = s.cmd(&[&["import"], args].concat());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = kit::run_bounded_stdin(&mut c, Some(stdin.as_bytes()), Duration::from_secs(60));
    let o = Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    };
    assert!(
        !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
        "the password was printed: {o:?}"
    );
    o
}

/// Exit 1, nothing on stdout, one `error: …` line holding each of `words`.
fn refused(o: &Out, words: &[&str]) {
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(o.stderr.starts_with("error: "), "{o:?}");
    for w in words.iter().chain(&["nothing was stored"]) {
        assert!(o.stderr.contains(w), "lacks {w:?}: {o:?}");
    }
}

/// The input shapes `import` reads, each naming `host` (with `--registry` where the input names
/// none).
fn shapes(host: &str) -> Vec<(Vec<String>, String)> {
    let record = serde_json::json!({
        "registry": host,
        "type": "basic",
        "credentials": {"USERNAME": USER, "PASSWORD": CANARY},
    })
    .to_string();
    let v1 = serde_json::json!({
        "registry": host,
        "type": "generic",
        "credentials": {"USERNAME": USER, "PASSWORD": CANARY},
        "version": 1,
    })
    .to_string();
    let wrapped = serde_json::json!({ "ImageCredentials": record }).to_string();
    let map = serde_json::json!({"USERNAME": USER, "PASSWORD": CANARY}).to_string();
    let given = vec!["--registry".to_string(), host.to_string()];
    vec![
        (vec![], record),
        (vec![], v1),
        (vec![], wrapped),
        (given.clone(), map),
        (given, format!("{USER}:{CANARY}")),
    ]
}

fn with(extra: &[String], more: &[&'static str]) -> Vec<String> {
    let mut v: Vec<String> = more.iter().map(|s| s.to_string()).collect();
    v.extend_from_slice(extra);
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn import_verify_refuses_a_loopback_registry_before_any_connection() {
    let t = "import_verify_guard::import_verify_refuses_a_loopback_registry_before_any_connection";
    if !tools_present(t, &["docker-registry", "htpasswd"]) {
        return;
    }
    let reg = Registry::start(USER, CANARY);
    let front = Counting::start(Role::Forward(reg.port));
    let host = format!("127.0.0.1:{}", front.port);
    let s = sandbox();
    for (extra, stdin) in shapes(&host) {
        let o = import(&s, &strs(&with(&extra, &["--verify"])), &[], &stdin);
        refused(
            &o,
            &[
                &format!("refusing to import the record for {host}: --verify would send requests to its registry at {host}, a loopback address"),
                &format!("add verify-host:{host} to BETA9_IMPORT_ALLOW"),
            ],
        );
        assert_eq!(front.count(), 0, "a connection reached the registry: {o:?}");
        assert_eq!(
            s.list().json(),
            serde_json::json!({}),
            "something was stored"
        );
    }
    // By name, and with --plain-http: the same.
    let named = format!("localhost:{}", front.port);
    for (extra, stdin) in shapes(&named).into_iter().take(1) {
        let o = import(
            &s,
            &strs(&with(&extra, &["--verify", "--plain-http"])),
            &[],
            &stdin,
        );
        refused(
            &o,
            &[&format!("its registry at {named}, a loopback address")],
        );
    }
    // Another port of the same host is not what the operator opened.
    let other = format!("verify-host:127.0.0.1:{}", reg.port);
    let (extra, stdin) = &shapes(&host)[0];
    let o = import(
        &s,
        &strs(&with(extra, &["--verify"])),
        &[("BETA9_IMPORT_ALLOW", &other)],
        stdin,
    );
    refused(&o, &["a loopback address"]);
    // verify-private opens the private network, never this machine.
    let o = import(
        &s,
        &strs(&with(extra, &["--verify"])),
        &[("BETA9_IMPORT_ALLOW", "verify-private")],
        stdin,
    );
    refused(&o, &["a loopback address"]);
    assert_eq!(front.count(), 0);
    assert_eq!(s.list().json(), serde_json::json!({}));

    // Without --verify nothing is asked: stored as before, no connection.
    let o = import(&s, &[], &[], stdin);
    o.assert_ok();
    assert_eq!(front.count(), 0);
    assert_eq!(s.list().json(), serde_json::json!({ &host: USER }));
}

#[test]
fn import_verify_reaches_a_loopback_registry_the_operator_opened() {
    let t = "import_verify_guard::import_verify_reaches_a_loopback_registry_the_operator_opened";
    if !tools_present(t, &["docker-registry", "htpasswd"]) {
        return;
    }
    let reg = Registry::start(USER, CANARY);
    let front = Counting::start(Role::Forward(reg.port));
    let host = format!("127.0.0.1:{}", front.port);
    let allow = format!("aws-ambient, verify-host:{host}");
    for (extra, stdin) in shapes(&host) {
        let s = sandbox();
        let before = front.count();
        let o = import(
            &s,
            &strs(&with(&extra, &["--verify"])),
            &[("BETA9_IMPORT_ALLOW", &allow)],
            &stdin,
        );
        o.assert_ok();
        assert!(
            o.stderr
                .contains(&format!("verified: {host} accepted the login")),
            "{o:?}"
        );
        assert!(front.count() > before, "the registry was not asked");
        assert_eq!(s.list().json(), serde_json::json!({ &host: USER }));
    }
    // The host without a port opens every port of it.
    let s = sandbox();
    let (extra, stdin) = &shapes(&host)[0];
    let o = import(
        &s,
        &strs(&with(extra, &["--verify"])),
        &[("BETA9_IMPORT_ALLOW", "verify-host:127.0.0.1")],
        stdin,
    );
    o.assert_ok();
}

#[test]
fn import_verify_sends_no_login_to_a_loopback_token_endpoint_the_registry_names() {
    let realm = Counting::start(Role::Answer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"token\":\"t1\"}".into(),
    ));
    let challenge = format!(
        "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"stub\"",
        realm.port
    );
    let registry = Counting::start(Role::Answer(format!(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )));
    let host = format!("127.0.0.1:{}", registry.port);
    let realm_host = format!("127.0.0.1:{}", realm.port);
    let s = sandbox();
    let allow = format!("verify-host:{host}");
    let (extra, stdin) = &shapes(&host)[0];
    let o = import(
        &s,
        &strs(&with(extra, &["--verify"])),
        &[("BETA9_IMPORT_ALLOW", &allow)],
        stdin,
    );
    refused(
        &o,
        &[
            &format!("refusing to import the record for {host}: --verify would send requests to the token endpoint its registry names at {realm_host}, a loopback address"),
            &format!("add verify-host:{realm_host} to BETA9_IMPORT_ALLOW"),
        ],
    );
    assert!(
        registry.count() > 0,
        "the registry was asked for its challenge"
    );
    assert_eq!(realm.count(), 0, "the login went to the token endpoint");
    assert_eq!(s.list().json(), serde_json::json!({}));

    // Both opened: the login goes to the token endpoint, which issues a token.
    let both = format!("{allow},verify-host:{realm_host}");
    let o = import(
        &s,
        &strs(&with(extra, &["--verify"])),
        &[("BETA9_IMPORT_ALLOW", &both)],
        stdin,
    );
    o.assert_ok();
    assert_eq!(realm.count(), 1, "{o:?}");
    assert_eq!(s.list().json(), serde_json::json!({ &host: USER }));
}
