//! PostgreSQL connections, for the fleet store (`BETA9_STORE_URL`) and `import --from-beta9`: the
//! URL as libpq reads it, TLS as libpq's `sslmode` defines it (with rustls and ring), the password
//! from the URL or a file and never from argv, and a blocking façade over `tokio-postgres` that puts
//! a deadline on every call (docs/postgres.md, "Connecting to PostgreSQL").
//!
//! One connection per process, no pool: every `get` is a fresh process. The async client runs on a
//! current-thread runtime built only when a connection is opened, so a `get` answered from a local
//! copy never builds one.

mod auth;
mod conn;
mod errors;
mod url;
mod verify;

pub(crate) use conn::{Conn, Param};
pub use errors::{is_outage, PgError, PgResult};
pub(crate) use tokio_postgres::types::Type as SqlType;
pub use url::{SslMode, Target};

#[cfg(test)]
mod tests {
    use super::conn::read_password;
    use super::url::Roots;
    use super::*;
    use crate::error::Result;
    use crate::fsutil;

    fn parse(url: &str) -> Result<Target> {
        Target::parse(url, "BETA9_STORE_URL", None, None)
    }

    #[test]
    fn urls_as_libpq_reads_them() {
        let t = parse(
            "postgres://u:CANARY@db.example:6432/creds?sslmode=verify-full&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(t.place(), "db.example:6432/creds");
        assert_eq!(t.ssl_mode(), SslMode::VerifyFull);
        assert!(t.has_password_in_url());
        assert_eq!(t.user(), "u");
        assert!(!format!("{t:?}").contains("CANARY"));
        let t = parse("postgresql://u@%2Ftmp%2Fpg/creds?sslmode=require").unwrap();
        assert_eq!(t.ssl_mode(), SslMode::Disable, "no TLS over a Unix socket");
        assert_eq!(t.place(), "/tmp/pg:5432/creds");
        let t = parse("postgres://u@h/d").unwrap();
        assert_eq!(t.ssl_mode(), SslMode::Prefer, "libpq's default");
        let t = parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=system&connect_timeout=3")
            .unwrap();
        assert_eq!(t.roots, Roots::System);
        let t = parse("postgres://u@h/d?sslrootcert=system").unwrap();
        assert_eq!(
            t.ssl_mode(),
            SslMode::VerifyFull,
            "libpq's default with the system CAs"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for (url, says) in [
            ("mysql://u:CANARY@h/d", "postgres://"),
            ("postgres://u:CANARY@h/d?sslmode=CANARY", "sslmode must be"),
            ("postgres://u:CANARY@h/d?sslmode=allow", "sslmode must be"),
            ("postgres://u:CANARY@h/d?CANARY=1", "unknown option"),
            (
                "postgres://u:CANARY@h/d?password=CANARY",
                "password parameter",
            ),
            ("postgres://u:CANARY@h:CANARY/d", "not a valid"),
            (
                "postgres://u:CANARY@h/d?sslmode=require&sslrootcert=system",
                "verify-full",
            ),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(err.starts_with("BETA9_STORE_URL"), "{err}");
            if !says.contains("unknown") {
                assert!(!err.contains("CANARY"), "{url}: {err}");
            }
        }
        let both = Target::parse(
            "postgres://u:pw@h/d",
            "BETA9_STORE_URL",
            Some("/run/secrets/pw".into()),
            None,
        );
        assert!(both.unwrap_err().to_string().contains("keep one"));
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let t = parse("postgres://u@h/d?sslmode=verify-ca").unwrap();
        let err = t.tls_config().unwrap_err().to_string();
        assert!(err.contains("sslrootcert"), "{err}");
        let t =
            parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let err = t.tls_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(parse("postgres://u@h/d?sslmode=require")
            .unwrap()
            .tls_config()
            .is_ok());
    }

    #[test]
    fn require_with_a_root_certificate_verifies_the_ca() {
        // libpq: a root certificate file (given, or ~/.postgresql/root.crt) turns `require` into
        // `verify-ca`; `prefer` never verifies.
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".postgresql");
        fsutil::ensure_dir(&dir).unwrap();
        fsutil::write_atomic(&dir, "root.crt", b"not a certificate").unwrap();
        let with_home = |url: &str| {
            Target::parse(url, "BETA9_STORE_URL", None, Some(home.path()))
                .unwrap()
                .tls_config()
        };
        let err = with_home("postgres://u@h/d?sslmode=require").unwrap_err();
        assert!(err.to_string().contains("root.crt"), "{err}");
        assert!(with_home("postgres://u@h/d?sslmode=prefer").is_ok());
        assert!(with_home("postgres://u@h/d?sslmode=verify-full").is_err());
    }

    #[test]
    fn password_files_lose_their_trailing_newline() {
        let t = tempfile::tempdir().unwrap();
        fsutil::write_atomic(t.path(), "pw", b"s3cret\r\n").unwrap();
        assert_eq!(
            read_password(&t.path().join("pw")).unwrap().as_slice(),
            b"s3cret"
        );
        assert!(read_password(&t.path().join("missing")).is_err());
    }
}
