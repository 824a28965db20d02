//! Google's token endpoints, pinned to exact hosts and paths
//! (docs/google.md, "Pinned endpoints"). A credential file names its endpoints itself, and a record may come from a tenant,
//! so a file may only name Google's own: STS at `sts.googleapis.com` (or a regional
//! `sts.<region>.rep.googleapis.com`) path `/v1/token`, IAM Credentials at
//! `iamcredentials.googleapis.com` path `/v1/projects/-/serviceAccounts/<email>:generateAccessToken`,
//! and the OAuth token endpoint at `oauth2.googleapis.com/token`. No query, no user info, https on
//! the default port. The only stand-in is an origin the operator names in
//! `BETA9_GOOGLE_ENDPOINT_ORIGIN` (a Private Service Connect endpoint, a test stub on loopback):
//! the same paths under that origin. A record can never choose it.

use crate::env;
use crate::error::{Error, SettingReason};
use crate::net::url::Url;
use crate::settings::Settings;

/// Which Google API a URL must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// Security Token Service, the token exchange of workload identity federation.
    Sts,
    /// IAM Credentials' `generateAccessToken`.
    IamCredentials,
    /// The OAuth 2.0 token endpoint of a service-account key or an `authorized_user` file.
    OAuth,
}

impl Api {
    /// The pinned form, for messages (no value from the record is ever quoted).
    fn shape(self) -> &'static str {
        match self {
            Api::Sts => "https://sts.googleapis.com/v1/token (or https://sts.<region>.rep.googleapis.com/v1/token)",
            Api::IamCredentials => "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/<email>:generateAccessToken",
            Api::OAuth => "https://oauth2.googleapis.com/token",
        }
    }

    fn path_ok(self, path: &str) -> bool {
        match self {
            Api::Sts => path == "/v1/token",
            Api::OAuth => path == "/token",
            Api::IamCredentials => path
                .strip_prefix("/v1/projects/-/serviceAccounts/")
                .and_then(|rest| rest.strip_suffix(":generateAccessToken"))
                .is_some_and(is_email),
        }
    }

    fn host_ok(self, host: &str) -> bool {
        match self {
            Api::Sts => {
                host == "sts.googleapis.com"
                    || host
                        .strip_prefix("sts.")
                        .and_then(|h| h.strip_suffix(".rep.googleapis.com"))
                        .is_some_and(is_label)
            }
            Api::IamCredentials => host == "iamcredentials.googleapis.com",
            Api::OAuth => host == "oauth2.googleapis.com",
        }
    }
}

/// A service account's email: `name@project.iam.gserviceaccount.com` and the like, nothing that
/// could change the path.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && !domain.starts_with('.')
        && !domain.contains("..")
}

/// One DNS label: a Google region such as `us-east1` or `europe-west3`.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The operator's stand-in for Google's API hosts: `scheme://host[:port]`, https anywhere or http
/// to a loopback host only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// `BETA9_GOOGLE_ENDPOINT_ORIGIN` from the settings, if set. A malformed value is an error
    /// naming the variable.
    pub(crate) fn from_settings(s: &Settings) -> crate::error::Result<Option<Origin>> {
        s.google_endpoint_origin().map(Origin::parse).transpose()
    }

    pub(crate) fn parse(value: &str) -> crate::error::Result<Origin> {
        let bad = || {
            Error::setting(
                env::GOOGLE_ENDPOINT_ORIGIN,
                SettingReason::MustBe(
                    "an origin, https://host[:port] (http://host[:port] only for a loopback host), with no path",
                ),
            )
        };
        let u = Url::parse(value).ok_or_else(bad)?;
        let uri: http::Uri = value.trim().parse().map_err(|_| bad())?;
        let path_empty = matches!(uri.path(), "" | "/");
        let scheme_ok = u.scheme == "https" || (u.scheme == "http" && u.is_loopback());
        if u.has_userinfo || !path_empty || uri.query().is_some() || !scheme_ok {
            return Err(bad());
        }
        Ok(Origin {
            port: u.port.unwrap_or(default_port(&u.scheme)),
            scheme: u.scheme,
            host: u.host,
        })
    }

    fn matches(&self, u: &Url) -> bool {
        u.scheme == self.scheme
            && u.host == self.host
            && u.port.unwrap_or(default_port(&u.scheme)) == self.port
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// Is `url` Google's endpoint for `api`, or the same path under the operator's `origin`?
pub(crate) fn is_pinned(api: Api, url: &str, origin: Option<&Origin>) -> bool {
    let Some(u) = Url::parse(url) else {
        return false;
    };
    let Ok(uri) = url.trim().parse::<http::Uri>() else {
        return false;
    };
    if u.has_userinfo || uri.query().is_some() {
        return false;
    }
    let https = u.scheme == "https" && u.port.is_none_or(|p| p == 443);
    // Older service-account keys name Google's previous OAuth token endpoint.
    let legacy = api == Api::OAuth
        && https
        && u.host == "accounts.google.com"
        && uri.path() == "/o/oauth2/token";
    if legacy {
        return true;
    }
    if !api.path_ok(uri.path()) {
        return false;
    }
    (https && api.host_ok(&u.host)) || origin.is_some_and(|o| o.matches(&u))
}

/// A Google endpoint that is not where it must be: names the field and the pinned form, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error("{field} must be {} (an operator's stand-in only through {})", api.shape(), env::GOOGLE_ENDPOINT_ORIGIN)]
    NotPinned { field: String, api: Api },
}

/// [`is_pinned`] as a check.
pub(crate) fn check(
    api: Api,
    url: &str,
    field: &str,
    origin: Option<&Origin>,
) -> Result<(), EndpointError> {
    if is_pinned(api, url, origin) {
        Ok(())
    } else {
        Err(EndpointError::NotPinned {
            field: field.to_string(),
            api,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_googles_own_hosts_and_paths() {
        let sa = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/puller@p.iam.gserviceaccount.com:generateAccessToken";
        for (api, url) in [
            (Api::Sts, "https://sts.googleapis.com/v1/token"),
            (Api::Sts, "https://STS.googleapis.com:443/v1/token"),
            (Api::Sts, "https://sts.us-east1.rep.googleapis.com/v1/token"),
            (Api::IamCredentials, sa),
            (Api::OAuth, "https://oauth2.googleapis.com/token"),
            (Api::OAuth, "https://accounts.google.com/o/oauth2/token"),
        ] {
            assert!(is_pinned(api, url, None), "{url}");
        }
        for (api, url) in [
            (Api::Sts, "https://storage.googleapis.com/upload/storage/v1/b/x/o?uploadType=media&name=t"),
            (Api::Sts, "https://www.googleapis.com/upload/storage/v1/b/x/o"),
            (Api::Sts, "https://firebasestorage.googleapis.com/v0/b/x/o"),
            (Api::Sts, "https://sts.googleapis.com/v1/token?x=1"),
            (Api::Sts, "https://sts.googleapis.com/v1/token/"),
            (Api::Sts, "https://sts.googleapis.com/v1/tokens"),
            (Api::Sts, "http://sts.googleapis.com/v1/token"),
            (Api::Sts, "https://sts.googleapis.com:8443/v1/token"),
            (Api::Sts, "https://u@sts.googleapis.com/v1/token"),
            (Api::Sts, "https://sts.a.b.rep.googleapis.com/v1/token"),
            (Api::Sts, "https://sts..rep.googleapis.com/v1/token"),
            (Api::Sts, "https://sts.googleapis.com.evil.example/v1/token"),
            (Api::Sts, "https://iamcredentials.googleapis.com/v1/token"),
            (Api::Sts, "http://127.0.0.1:8080/v1/token"),
            (Api::IamCredentials, "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken?x"),
            (Api::IamCredentials, "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a/b@c:generateAccessToken"),
            (Api::IamCredentials, "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:signBlob"),
            (Api::IamCredentials, "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x:generateAccessToken"),
            (Api::IamCredentials, "https://sts.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken"),
            (Api::OAuth, "https://oauth2.googleapis.com/token/x"),
            (Api::OAuth, "https://storage.googleapis.com/token"),
            (Api::OAuth, "https://evil.example/token"),
        ] {
            assert!(!is_pinned(api, url, None), "{url}");
            let e = check(api, url, "token_url", None).unwrap_err().to_string();
            assert!(!e.contains("evil") && !e.contains("upload") && e.contains("token_url"), "{e}");
        }
    }

    #[test]
    fn the_operators_origin_stands_in_with_the_same_paths() {
        let o = Origin::parse("http://127.0.0.1:8080").unwrap();
        assert!(is_pinned(
            Api::Sts,
            "http://127.0.0.1:8080/v1/token",
            Some(&o)
        ));
        assert!(is_pinned(
            Api::OAuth,
            "http://127.0.0.1:8080/token",
            Some(&o)
        ));
        assert!(!is_pinned(
            Api::Sts,
            "http://127.0.0.1:8081/v1/token",
            Some(&o)
        ));
        assert!(!is_pinned(
            Api::Sts,
            "http://127.0.0.1:8080/upload",
            Some(&o)
        ));
        assert!(!is_pinned(
            Api::Sts,
            "https://127.0.0.1:8080/v1/token",
            Some(&o)
        ));
        let psc = Origin::parse("https://sts-x.p.googleapis.com/").unwrap();
        assert!(is_pinned(
            Api::Sts,
            "https://sts-x.p.googleapis.com:443/v1/token",
            Some(&psc)
        ));
        for bad in [
            "http://sts.example",
            "https://a/b",
            "https://a?x",
            "https://u@a",
            "sts.example",
            "",
        ] {
            let e = Origin::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("BETA9_GOOGLE_ENDPOINT_ORIGIN must be"), "{e}");
        }
    }
}
