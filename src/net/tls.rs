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
pub(crate) fn ureq_roots() -> ureq::tls::RootCerts {
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
pub(crate) fn rustls_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// ureq's TLS settings: rustls with ring and the system roots.
pub(crate) fn ureq_config() -> ureq::tls::TlsConfig {
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
pub(crate) fn roots_pem(extra: &[u8]) -> Vec<u8> {
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

/// Why a server's certificate was refused, in the terms a user can act on (docs/clients.md,
/// "Registry certificates"): whom to trust, which name to put in the certificate, or when it is
/// valid. Names come from the certificate and may be shown only through `printable`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CertProblem {
    /// No trust anchor the client has signs the chain (a private CA nobody was told about).
    UnknownAuthority,
    /// The certificate is valid, but not for the name the client connected to.
    WrongName { presented: Vec<String> },
    /// Past its `notAfter` (seconds since the epoch, when rustls reports it).
    Expired { not_after: Option<u64> },
    /// Before its `notBefore`.
    NotYetValid { not_before: Option<u64> },
    /// Anything else rustls refuses (bad signature, revoked, unsupported algorithm…).
    Other(String),
}

impl CertProblem {
    /// The certificate problem in a ureq error, if that is why the exchange failed. A handshake
    /// failure reaches ureq as an I/O error wrapping the rustls error (rustls' stream adapter), or
    /// directly as one.
    pub(crate) fn of(e: &ureq::Error) -> Option<CertProblem> {
        let tls: &rustls::Error = match e {
            ureq::Error::Rustls(r) => r,
            ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
            _ => return None,
        };
        let rustls::Error::InvalidCertificate(c) = tls else {
            return None;
        };
        use rustls::CertificateError as C;
        Some(match c {
            C::UnknownIssuer => CertProblem::UnknownAuthority,
            C::NotValidForName => CertProblem::WrongName {
                presented: Vec::new(),
            },
            C::NotValidForNameContext { presented, .. } => CertProblem::WrongName {
                presented: presented.iter().map(|n| bare_name(n)).collect(),
            },
            C::Expired => CertProblem::Expired { not_after: None },
            C::ExpiredContext { not_after, .. } => CertProblem::Expired {
                not_after: Some(not_after.as_secs()),
            },
            C::NotValidYet => CertProblem::NotYetValid { not_before: None },
            C::NotValidYetContext { not_before, .. } => CertProblem::NotYetValid {
                not_before: Some(not_before.as_secs()),
            },
            // The variant's name only: some carry algorithm identifiers as bytes.
            other => CertProblem::Other(
                format!("{other:?}")
                    .split(['{', '(', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
        })
    }

    /// `the certificate is signed by an unknown authority`, in one clause.
    pub(crate) fn describe(&self) -> String {
        match self {
            CertProblem::UnknownAuthority => {
                "the certificate is signed by an unknown authority".into()
            }
            CertProblem::WrongName { presented } if presented.is_empty() => {
                "the certificate is for another name".into()
            }
            CertProblem::WrongName { presented } => format!(
                "the certificate is for another name ({})",
                presented
                    .iter()
                    .map(|n| crate::error::printable(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CertProblem::Expired { not_after: Some(t) } => {
                format!("the certificate expired at {}", crate::rfc3339::format(*t))
            }
            CertProblem::Expired { not_after: None } => {
                "the certificate has expired (it is past its notAfter date)".into()
            }
            CertProblem::NotYetValid {
                not_before: Some(t),
            } => format!(
                "the certificate is not valid yet (not before {})",
                crate::rfc3339::format(*t)
            ),
            CertProblem::NotYetValid { not_before: None } => {
                "the certificate is not valid yet".into()
            }
            CertProblem::Other(why) => format!("the certificate is refused ({why})"),
        }
    }
}

/// `registry.example` from rustls' `DnsName("registry.example")` (how it reports the names a
/// certificate presents); anything else as it came.
fn bare_name(n: &str) -> String {
    n.split_once("(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .unwrap_or(n)
        .to_string()
}

/// The certificates in a PEM file's bytes (anything else in it is skipped, as Go's
/// `AppendCertsFromPEM` does for the `*.crt` files docker and the containers tools read).
pub(crate) fn pem_certs(bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect()
}

/// [`ureq_config`] with `extra` trust anchors beside the system's (a registry's `certs.d` CA).
pub(crate) fn ureq_config_with(
    extra: &[rustls_pki_types::CertificateDer<'static>],
) -> ureq::tls::TlsConfig {
    if extra.is_empty() {
        return ureq_config();
    }
    let mut certs: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    certs.extend(
        extra
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned()),
    );
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_named_with_printable_names() {
        assert_eq!(
            bare_name("DnsName(\"registry.example\")"),
            "registry.example"
        );
        assert_eq!(bare_name("127.0.0.1"), "127.0.0.1");
        let p = CertProblem::WrongName {
            presented: vec!["a.example".into(), "evil\u{1b}[2J".into()],
        };
        let d = p.describe();
        assert!(
            d.starts_with("the certificate is for another name (a.example, "),
            "{d}"
        );
        assert!(!d.contains('\u{1b}'), "{d}");
        assert_eq!(
            CertProblem::UnknownAuthority.describe(),
            "the certificate is signed by an unknown authority"
        );
        assert!(CertProblem::Expired { not_after: Some(0) }
            .describe()
            .contains("1970-01-01T00:00:00Z"));
    }
}
