//! Azure Container Registry: an `azure` record's service principal answered as a plain login, the
//! application (client) id as `Username` and the client secret as `Secret`, which ACR accepts for
//! `docker login` (docs/records.md, "Static registries"). No I/O, nothing minted: the AAD token
//! exchange at `https://<registry>/oauth2/exchange` is not done here, so managed and workload
//! identities (which have no secret) are not supported.
//!
//! A service principal's secret can reach whatever the principal has roles for, not only one
//! registry, so it is answered only for hosts that pass [`hosts::is_acr_host`]; any other host gets
//! one error line and nothing (docs/records.md, "Cloud records on other hosts").

use crate::credential_type::{CredentialType, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET};
use crate::error::{Error, Result};
use crate::hosts;
use crate::login::Login;
use crate::record::{Record, RecordError};
use secrecy::ExposeSecret;

pub(crate) fn resolve(record: &Record) -> Result<Login> {
    if !hosts::is_acr_host(record.registry.hostname()) {
        return Err(not_acr(record));
    }
    let c = &record.credentials;
    let need = |name: &str| {
        c.non_empty(name).ok_or_else(|| Error::BadRecord {
            entry: record.registry.secret_name().to_string(),
            reason: RecordError::missing(CredentialType::Azure, name).to_string(),
        })
    };
    let client_id = need(AZURE_CLIENT_ID)?;
    let secret = need(AZURE_CLIENT_SECRET)?;
    Ok(Login::new(client_id.expose_secret(), secret))
}

/// The client id: an application id, not a secret, so `list` may show it.
pub(crate) fn list_username(record: &Record) -> String {
    record
        .credentials
        .get(AZURE_CLIENT_ID)
        .map(|v| v.expose_secret().to_string())
        .unwrap_or_default()
}

fn not_acr(record: &Record) -> Error {
    Error::Unsupported {
        registry: record.registry.to_string(),
        detail: "an azure record is only used for Azure Container Registry hosts (<name>.azurecr.io, <name>.azurecr.cn, <name>.azurecr.us); nothing was sent".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential_type::{CredentialType, AZURE_TENANT_ID};
    use crate::record::Credentials;
    use crate::registry::Registry;
    use secrecy::SecretString;

    const CLIENT: &str = "00000000-1111-2222-3333-444444444444";
    const SECRET: &str = "CANARY-acr-secret";

    fn record(registry: &str, pairs: &[(&str, &str)]) -> Record {
        let mut credentials = Credentials::new();
        for (k, v) in pairs {
            credentials.insert(k, SecretString::from(*v));
        }
        Record {
            registry: Registry::from_server_url(registry).unwrap(),
            kind: CredentialType::Azure,
            credentials,
        }
    }

    fn sp() -> [(&'static str, &'static str); 3] {
        [
            (AZURE_CLIENT_ID, CLIENT),
            (AZURE_CLIENT_SECRET, SECRET),
            (AZURE_TENANT_ID, "tenant"),
        ]
    }

    #[test]
    fn an_acr_host_gets_the_client_id_and_secret() {
        for host in ["myacr.azurecr.io", "myacr.azurecr.cn", "myacr.azurecr.us"] {
            let login = resolve(&record(host, &sp())).unwrap();
            assert_eq!(login.username.expose_secret(), CLIENT);
            assert_eq!(login.secret.expose_secret(), SECRET);
        }
        assert_eq!(list_username(&record("myacr.azurecr.io", &sp())), CLIENT);
    }

    #[test]
    fn another_host_gets_one_line_and_no_secret() {
        for host in [
            "ghcr.io",
            "myacr.azurecr.io.evil.example",
            "azurecr.io",
            "my_acr.azurecr.io",
        ] {
            let err = resolve(&record(host, &sp())).unwrap_err();
            let line = err.protocol_message();
            assert!(line.contains("nothing was sent"), "{line}");
            assert!(line.starts_with(&format!("{host}: ")), "{line}");
            assert!(!line.contains(SECRET) && !line.contains(CLIENT), "{line}");
            assert!(!format!("{err:?}").contains(SECRET));
        }
    }

    #[test]
    fn a_record_without_its_pair_is_a_bad_record_naming_no_value() {
        let err = resolve(&record("myacr.azurecr.io", &sp()[..1])).unwrap_err();
        let line = err.protocol_message();
        assert!(line.contains("needs AZURE_CLIENT_SECRET"), "{line}");
        assert!(!line.contains(CLIENT), "{line}");
        let empty = [(AZURE_CLIENT_ID, CLIENT), (AZURE_CLIENT_SECRET, "")];
        let line = resolve(&record("myacr.azurecr.io", &empty))
            .unwrap_err()
            .protocol_message();
        assert!(line.contains("needs AZURE_CLIENT_SECRET"), "{line}");
    }
}
