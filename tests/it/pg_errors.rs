//! How a PostgreSQL connection's failures are classed (docs/postgres.md, "Connecting to
//! PostgreSQL"): an outage (a local copy may answer) or an answer (a refusal). Loopback servers
//! that speak just enough of the protocol; nothing to install.

use docker_credential_beta9::error::Error;
use docker_credential_beta9::pg::{is_outage, Target};
use docker_credential_beta9::timeout::Deadline;
use std::io::{Read, Write};
use std::time::Duration;

/// Accepts one connection, answers the SSLRequest with `S` (TLS offered), then sends `then`
/// where the TLS handshake's first answer belongs, and hangs up.
fn offers_tls_then(then: &'static [u8]) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut request = [0u8; 8];
        if s.read_exact(&mut request).is_ok() {
            let _ = s.write_all(b"S");
            let mut hello = [0u8; 5];
            let _ = s.read_exact(&mut hello);
            let _ = s.write_all(then);
        }
    });
    port
}

fn connect(port: u16) -> Error {
    let url = format!("postgres://u@127.0.0.1:{port}/d?sslmode=require");
    let target = Target::parse(&url, "BETA9_STORE_URL", None, None).unwrap();
    match target.connect(Deadline::start(Duration::from_secs(5))) {
        Err(e) => e,
        Ok(_) => panic!("connected to a server that does not speak TLS"),
    }
}

/// A server that offers TLS and then answers the handshake with something else (here an HTTP
/// error page) is out of reach, not a refused certificate: the local copy answers, and the words
/// say what happened.
#[test]
fn a_broken_tls_handshake_is_an_outage_not_a_refused_certificate() {
    let e = connect(offers_tls_then(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    ));
    let text = e.to_string();
    assert!(is_outage(&e), "{text}");
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(!text.contains("certificate was refused"), "{text}");
}

/// A server that hangs up right after offering TLS: an outage too.
#[test]
fn a_server_that_hangs_up_during_the_handshake_is_an_outage() {
    let e = connect(offers_tls_then(b""));
    assert!(is_outage(&e), "{e}");
}
