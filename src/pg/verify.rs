//! The server's certificate, checked as libpq's `sslmode` says: chain and name (`verify-full`),
//! chain only (`verify-ca`), nothing (`prefer`, `require` without a root certificate).

use super::url::{Roots, SslMode, Target};
use crate::error::{Error, Result};
use crate::fsutil;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

impl Target {
    pub(super) fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = self.verifier(provider.clone())?;
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Other(anyhow::anyhow!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth())
    }

    /// The check `sslmode` and `sslrootcert` ask for.
    fn verifier(&self, provider: Arc<CryptoProvider>) -> Result<Verifier> {
        let roots = match (&self.roots, self.mode) {
            (_, SslMode::Disable) => None,
            // `prefer` and a `require` without a root certificate encrypt but do not verify; a
            // `require` with one behaves as verify-ca (libpq's rule, docs/postgres.md, "sslmode").
            (Roots::None, SslMode::Prefer | SslMode::Require) => None,
            (Roots::File(_), SslMode::Prefer) => None,
            (Roots::None, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(Error::at(
                    self.what,
                    format!(
                        "sslmode={} needs sslrootcert=PATH (or ~/.postgresql/root.crt)",
                        self.mode.name()
                    ),
                ))
            }
            (Roots::System, _) => Some(crate::net::tls::rustls_roots()),
            (Roots::File(path), _) => Some(file_roots(path, self.what)?),
        };
        Ok(Verifier {
            inner: match roots {
                Some(r) => Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(r), provider.clone())
                        .build()
                        .map_err(|e| Error::at(self.what, format!("sslrootcert: {e}")))?,
                ),
                None => None,
            },
            check_name: self.mode == SslMode::VerifyFull,
            provider,
        })
    }
}

pub(super) fn file_roots(path: &Path, what: &str) -> Result<rustls::RootCertStore> {
    let bad = |why: String| Error::at(what, format!("sslrootcert {}: {why}", path.display()));
    let bytes = fsutil::read_operator_file(path, fsutil::META_LIMIT * 16)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no such file".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|_| bad("not a PEM certificate file".into()))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(roots)
}

/// Verifies as the mode says: chain and name (verify-full), chain only (verify-ca), nothing
/// (prefer, require without a root certificate: encryption against passive listeners only).
#[derive(Debug)]
pub(super) struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/pg_verify")
            .join(name)
    }

    /// The server's certificate (`DNS:db.example`, signed by `ca.pem`), checked as a server
    /// named `host` presenting it would be, under `sslmode` and `sslrootcert` (`None`: none),
    /// at a fixed time inside the fixtures' validity.
    fn check(mode: &str, root: Option<&str>, host: &str) -> std::result::Result<(), String> {
        let mut url = format!("postgres://u@{host}/d?sslmode={mode}");
        if let Some(r) = root {
            url += &format!("&sslrootcert={}", fixture(r).display());
        }
        let target = Target::parse(&url, "BETA9_STORE_URL", None, None).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = target.verifier(provider).map_err(|e| e.to_string())?;
        let pem = std::fs::read(fixture("server.pem")).unwrap();
        let cert = CertificateDer::from_pem_slice(&pem).unwrap();
        let name = ServerName::try_from(host.to_string()).unwrap();
        // 2030-01-01: the fixtures are valid from 2026-12-07 for a century.
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_893_456_000));
        verifier
            .verify_server_cert(&cert, &[], &name, &[], now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn verify_full_checks_the_chain_and_the_name() {
        assert_eq!(check("verify-full", Some("ca.pem"), "db.example"), Ok(()));
        let other_name = check("verify-full", Some("ca.pem"), "other.example").unwrap_err();
        assert!(other_name.contains("not valid for name"), "{other_name}");
        let other_ca = check("verify-full", Some("other-ca.pem"), "db.example").unwrap_err();
        assert!(other_ca.contains("UnknownIssuer"), "{other_ca}");
    }

    #[test]
    fn verify_ca_checks_the_chain_only() {
        assert_eq!(check("verify-ca", Some("ca.pem"), "db.example"), Ok(()));
        assert_eq!(check("verify-ca", Some("ca.pem"), "other.example"), Ok(()));
        let other_ca = check("verify-ca", Some("other-ca.pem"), "db.example").unwrap_err();
        assert!(other_ca.contains("UnknownIssuer"), "{other_ca}");
    }

    /// libpq's rule (docs/postgres.md, "sslmode"): `require` with a root certificate is
    /// `verify-ca`; without one it only encrypts.
    #[test]
    fn require_verifies_the_ca_only_when_given_one() {
        assert_eq!(check("require", Some("ca.pem"), "other.example"), Ok(()));
        assert!(check("require", Some("other-ca.pem"), "db.example").is_err());
        assert_eq!(check("require", None, "other.example"), Ok(()));
    }

    /// `prefer` encrypts against passive listeners and never verifies, even with a root
    /// certificate; `verify-ca` and `verify-full` without one are refused before connecting.
    #[test]
    fn prefer_never_verifies_and_the_verify_modes_need_a_root() {
        assert_eq!(check("prefer", Some("other-ca.pem"), "db.example"), Ok(()));
        assert_eq!(check("prefer", None, "db.example"), Ok(()));
        for mode in ["verify-ca", "verify-full"] {
            let e = check(mode, None, "db.example").unwrap_err();
            assert!(e.contains("needs sslrootcert"), "{e}");
        }
    }
}
