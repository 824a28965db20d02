//! One root-certificate policy for every TLS client the helper starts (the AWS SDK's hyper client,
//! ureq for Google, the redis crate for a `rediss://` shared token cache): the system's CA store, as `rustls-native-certs` reads it (`/etc/ssl/certs` on
//! Debian; `SSL_CERT_FILE`/`SSL_CERT_DIR` override it), with rustls and the ring provider. No
//! compiled-in root bundle, so an operator's corporate CA or a distribution's CA update applies to
//! all of them alike. The AWS SDK's client loads the same store itself (aws-smithy-http-client's
//! rustls provider); ureq is given it here; the redis crate reads it itself, or takes it as a PEM
//! bundle with `BETA9_TOKEN_CACHE_CA_FILE` appended ([`roots_pem`]). Only loaded when a TLS
//! connection is about to be made.

use std::sync::Arc;

/// The system's trust anchors for ureq. Unreadable individual certificates are skipped (as the
/// AWS client does); an empty store makes every TLS handshake fail with a clear error.
pub fn ureq_roots() -> ureq::tls::RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<ureq::tls::Certificate<'static>> = found
        .certs
        .into_iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    ureq::tls::RootCerts::Specific(Arc::new(certs))
}

/// The system's trust anchors as a rustls root store (PostgreSQL's `sslrootcert=system`,
/// src/pg/verify.rs). Unusable certificates are skipped, as above.
pub fn rustls_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// ureq's TLS settings: rustls with ring and the system roots.
pub fn ureq_config() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(ureq_roots())
        .build()
}

/// The system's trust anchors (as [`ureq_roots`] reads them) as a PEM bundle, followed by `extra`
/// (an operator's CA file, PEM): for clients that take one bundle and would otherwise replace the
/// system roots with the extra CA (the redis crate's `rediss://`). Certificates rustls cannot
/// use as trust anchors are left out, so one odd system certificate cannot fail every handshake.
pub fn roots_pem(extra: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let found = rustls_native_certs::load_native_certs();
    let mut out = Vec::new();
    for der in found.certs {
        if rustls::RootCertStore::empty().add(der.clone()).is_err() {
            continue;
        }
        out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    out.extend_from_slice(extra);
    if !extra.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}
