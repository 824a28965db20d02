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
        let roots = match (&self.roots, self.mode) {
            (_, SslMode::Disable) => None,
            // `prefer` and a `require` without a root certificate encrypt but do not verify; a
            // `require` with one behaves as verify-ca (libpq's rule, docs/postgres.md, "sslmode").
            (Roots::None, SslMode::Prefer | SslMode::Require) => None,
            (Roots::File(_), SslMode::Prefer) => None,
            (Roots::None, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(Error::Invalid(format!(
                    "{}: sslmode={} needs sslrootcert=PATH (or ~/.postgresql/root.crt)",
                    self.what,
                    self.mode.name()
                )))
            }
            (Roots::System, _) => Some(crate::tls::rustls_roots()),
            (Roots::File(path), _) => Some(file_roots(path, self.what)?),
        };
        let check_name = self.mode == SslMode::VerifyFull;
        let verifier = Verifier {
            inner: match roots {
                Some(r) => Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(r), provider.clone())
                        .build()
                        .map_err(|e| Error::Invalid(format!("{}: sslrootcert: {e}", self.what)))?,
                ),
                None => None,
            },
            check_name,
            provider: provider.clone(),
        };
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Other(anyhow::anyhow!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth())
    }
}

pub(super) fn file_roots(path: &Path, what: &str) -> Result<rustls::RootCertStore> {
    let bad =
        |why: String| Error::Invalid(format!("{what}: sslrootcert {}: {why}", path.display()));
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
