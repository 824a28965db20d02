//! One root-certificate policy for every TLS client the helper starts (the AWS SDK's hyper client,
//! ureq for Google): the system's CA store, as `rustls-native-certs` reads it (`/etc/ssl/certs` on
//! Debian; `SSL_CERT_FILE`/`SSL_CERT_DIR` override it), with rustls and the ring provider. No
//! compiled-in root bundle, so an operator's corporate CA or a distribution's CA update applies to
//! all of them alike. The AWS SDK's client loads the same store itself (aws-smithy-http-client's
//! rustls provider); ureq is given it here. Only loaded when a TLS connection is about to be made.

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

/// ureq's TLS settings: rustls with ring and the system roots.
pub fn ureq_config() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(ureq_roots())
        .build()
}
