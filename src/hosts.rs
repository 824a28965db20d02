//! Anchored host patterns for the registries whose type decides what `get` does. A cloud credential
//! is only ever sent to a host that passes these (docs/ecr.md, "Host patterns"; docs/google.md, "Hosts";
//! docs/records.md, "Static registries" for ACR; docs/records.md, "Cloud records on other hosts"):
//! substring checks such as
//! beta9's `strings.Contains(registry, "ecr")` would hand AWS keys to `secret-registry.io`.

/// The parts of a private ECR host (awslabs/amazon-ecr-credential-helper `ecr-login/api/client.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EcrHost {
    pub account: String,
    pub region: String,
    pub fips: bool,
    pub dual_stack: bool,
}

const ECR_SUFFIXES: [&str; 9] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

/// Matches `^([0-9]{12})\.dkr[.-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(<suffix>)$` on a
/// lower-cased hostname (no scheme, port or path). Hand-written because the region label cannot
/// contain a dot, so the match is deterministic and needs no regex engine on the `get` path.
pub(crate) fn ecr_host(hostname: &str) -> Option<EcrHost> {
    let h = hostname.to_ascii_lowercase();
    let (account, rest) = (h.get(..12)?, h.get(12..)?);
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix(".dkr")?;
    let dual_stack = rest.starts_with('-');
    let rest = rest.strip_prefix(['.', '-'])?.strip_prefix("ecr")?;
    let (fips, rest) = match rest.strip_prefix("-fips") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix('.')?;
    let (region, suffix) = rest.split_once('.')?;
    let mut chars = region.bytes();
    let first_ok = chars.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = chars.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(first_ok && rest_ok && ECR_SUFFIXES.contains(&suffix)) {
        return None;
    }
    Some(EcrHost {
        account: account.to_string(),
        region: region.to_string(),
        fips,
        dual_stack,
    })
}

/// ECR Public: one API, always in us-east-1.
pub(crate) fn is_ecr_public(hostname: &str) -> bool {
    matches!(
        hostname.to_ascii_lowercase().as_str(),
        "public.ecr.aws" | "ecr-public.aws.com"
    )
}

/// `gcr.io`, `<x>.gcr.io`, `<location>-docker.pkg.dev`, `docker.<region>.rep.pkg.dev`
/// (GoogleCloudPlatform/docker-credential-gcr `config/const.go`).
pub(crate) fn is_google_host(hostname: &str) -> bool {
    let h = hostname.to_ascii_lowercase();
    if h == "gcr.io" {
        return true;
    }
    if let Some(label) = h.strip_suffix(".gcr.io") {
        return is_label(label);
    }
    if let Some(rest) = h.strip_suffix(".rep.pkg.dev") {
        return rest.strip_prefix("docker.").is_some_and(is_label);
    }
    if let Some(label) = h.strip_suffix(".pkg.dev") {
        return label
            .strip_suffix("-docker")
            .is_some_and(|loc| !loc.is_empty() && is_label(label));
    }
    false
}

/// The ACR login-server suffixes: Azure's public cloud, Azure China (21Vianet) and Azure US
/// Government (Azure/go-autorest `autorest/azure/environments.go`, `ContainerRegistryDNSSuffix`).
/// The retired Azure Germany (`azurecr.de`) and the air-gapped clouds are not matched.
const ACR_SUFFIXES: [&str; 3] = [".azurecr.io", ".azurecr.cn", ".azurecr.us"];

/// An Azure Container Registry login server (docs/records.md, "Static registries"), on the
/// hostname only (no scheme, port or path), ignoring ASCII case as DNS does (registry.rs hands
/// hosts over lower-cased anyway):
///
/// ```text
/// ^<label>(\.<region>\.geo)?\.azurecr\.(io|cn|us)$
/// <label>  = [a-z0-9]{5,50}(-[a-z0-9]+)?     at most 63 characters
/// <region> = [a-z0-9]+
/// ```
///
/// `<label>` is Azure's registry-name rule (5 to 50 ASCII letters and digits), optionally followed
/// by one `-<hash>`: the login server of a registry with a domain name label scope
/// (`myacr-abc123.azurecr.io`). `.<region>.geo` is a geo-replica's regional login server
/// (`myacr.eastus2.geo.azurecr.io`). Both as in kubernetes-sigs/cloud-provider-azure's ACR
/// credential provider. Never matched: an underscore, two hyphens, any other extra label (the
/// `<name>.<region>.data.azurecr.io` blob endpoints are not login servers), a bare `azurecr.io`,
/// `myacr.azurecr.io.evil.example`. A port is the caller's to strip
/// ([`Registry::hostname`](crate::registry::Registry::hostname)), as for ECR and Google; given
/// here, it fails the match.
pub(crate) fn is_acr_host(hostname: &str) -> bool {
    let h = hostname.to_ascii_lowercase();
    let Some(rest) = ACR_SUFFIXES.iter().find_map(|s| h.strip_suffix(s)) else {
        return false;
    };
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let label = match rest.strip_suffix(".geo") {
        Some(regional) => match regional.split_once('.') {
            Some((label, region)) if alnum(region) => label,
            _ => return false,
        },
        None => rest,
    };
    let (name, hash) = match label.split_once('-') {
        Some((name, hash)) => (name, Some(hash)),
        None => (label, None),
    };
    label.len() <= 63 && (5..=50).contains(&name.len()) && alnum(name) && hash.is_none_or(alnum)
}

pub(crate) fn is_ghcr(hostname: &str) -> bool {
    hostname.eq_ignore_ascii_case("ghcr.io")
}

pub(crate) fn is_ngc(hostname: &str) -> bool {
    hostname.eq_ignore_ascii_case("nvcr.io")
}

/// One DNS label: letters, digits and inner hyphens.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    const A: &str = "123456789012";

    fn ecr(input: &str) -> Option<EcrHost> {
        ecr_host(Registry::from_server_url(input).ok()?.hostname())
    }

    #[test]
    fn ecr_accept_vectors() {
        let accept = [
            format!("https://{A}.dkr.ecr.us-east-1.amazonaws.com/v2/blah/blah"),
            format!("{A}.dkr.ecr.us-west-2.amazonaws.com"),
            format!("{A}.dkr-ecr.us-west-2.on.aws"),
            format!("{A}.dkr-ecr-fips.us-west-2.on.aws"),
            format!("{A}.dkr.ecr-fips.us-gov-west-1.amazonaws.com"),
            format!("{A}.dkr.ecr.cn-north-1.amazonaws.com.cn/foo"),
            format!("{A}.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn"),
            format!("{A}.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
            format!("{A}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
            format!("{A}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov"),
            format!("{A}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk"),
            format!("{A}.dkr.ecr.eusc-de-east-1.amazonaws.eu"),
            format!("{A}.DKR.ECR.US-EAST-1.AMAZONAWS.COM"),
        ];
        for host in &accept {
            let parsed = ecr(host).unwrap_or_else(|| panic!("should accept {host}"));
            assert_eq!(parsed.account, A);
        }
        let fips = ecr(&format!("{A}.dkr-ecr-fips.us-west-2.on.aws")).unwrap();
        assert!(fips.fips && fips.dual_stack);
        assert_eq!(fips.region, "us-west-2");
        let plain = ecr(&format!("{A}.dkr.ecr.us-east-1.amazonaws.com")).unwrap();
        assert!(!plain.fips && !plain.dual_stack);
    }

    #[test]
    fn ecr_reject_vectors() {
        let reject = [
            ".dkr.ecr.not-real.amazonaws.com".to_string(),
            "not.ecr.io".to_string(),
            format!("{A}.dkr.ecr.us-east-1.amazonaws.com.fake.example.com"),
            format!("{A}.dkr.ecr.us-east-1.amazonaws.com.evil.example"),
            format!("{A}.dkr.ecr.cn-north-1.on.aws.com.cn"),
            "public.ecr.aws.fake.example.com".to_string(),
            "12345678901.dkr.ecr.us-east-1.amazonaws.com".to_string(),
            "1234567890123.dkr.ecr.us-east-1.amazonaws.com".to_string(),
            format!("{A}.dkr.ecr..amazonaws.com"),
            format!("{A}.dkr.ecr.-us.amazonaws.com"),
            "１２３４５６７８９０１２.dkr.ecr.us-east-1.amazonaws.com".to_string(),
            "secret-registry.io".to_string(),
        ];
        for host in &reject {
            assert!(ecr(host).is_none(), "should reject {host}");
        }
        assert!(is_ecr_public("public.ecr.aws"));
        assert!(is_ecr_public("ecr-public.aws.com"));
        assert!(!is_ecr_public("public.ecr.aws.fake.example.com"));
    }

    #[test]
    fn google_hosts() {
        for h in [
            "gcr.io",
            "us.gcr.io",
            "eu.gcr.io",
            "asia.gcr.io",
            "marketplace.gcr.io",
            "us-docker.pkg.dev",
            "europe-west1-docker.pkg.dev",
            "docker.us-central1.rep.pkg.dev",
        ] {
            assert!(is_google_host(h), "{h}");
        }
        for h in [
            "notgcr.io",
            "gcr.io.evil.example",
            "a.b.gcr.io",
            "docker.pkg.dev",
            "-docker.pkg.dev",
            "us-docker.pkg.dev.evil.example",
            "evil.example/gcr.io",
            "docker..rep.pkg.dev",
            "pkg.dev",
        ] {
            assert!(!is_google_host(h), "{h}");
        }
    }

    /// The hostname a server URL or image reference names, as the callers match it.
    fn acr(input: &str) -> bool {
        Registry::from_server_url(input)
            .map(|r| is_acr_host(r.hostname()))
            .unwrap_or(false)
    }

    #[test]
    fn acr_accept_vectors() {
        let fifty = "a".repeat(50);
        for h in [
            "myacr.azurecr.io".to_string(),
            "myacr.azurecr.cn".to_string(),
            "myacr.azurecr.us".to_string(),
            "acr01.azurecr.io".to_string(),
            "12345.azurecr.io".to_string(),
            format!("{fifty}.azurecr.io"),
            // Upper case: DNS ignores it, and Registry lower-cases it before we see it.
            "MyAcr.AzureCR.IO".to_string(),
            // Domain name label scope: one `-<hash>` after the name.
            "myacr-abc123hash.azurecr.io".to_string(),
            "myacr-h.azurecr.cn".to_string(),
            format!("{fifty}-{}.azurecr.io", "b".repeat(12)),
            // A geo-replica's regional login server, with and without a hash.
            "myacr.eastus2.geo.azurecr.io".to_string(),
            "myacr-abc123.westeurope.geo.azurecr.io".to_string(),
            "myacr.usgovvirginia.geo.azurecr.us".to_string(),
        ] {
            assert!(is_acr_host(&h), "should accept {h}");
        }
        // Through the real callers' path: scheme, path, upper case and ports are the registry
        // layer's business; the default port folds away, another one is stripped by hostname().
        for input in [
            "https://myacr.azurecr.io/v2/",
            "MYACR.AZURECR.IO",
            "myacr.azurecr.io/team/app",
            "myacr.azurecr.io:443",
            "myacr.azurecr.io:5000",
        ] {
            assert!(acr(input), "should accept {input}");
        }
        assert_eq!(
            Registry::from_server_url("MyAcr.AzureCR.io:443")
                .unwrap()
                .as_str(),
            "myacr.azurecr.io"
        );
    }

    #[test]
    fn acr_reject_vectors() {
        let fifty_one = "a".repeat(51);
        for h in [
            "myacr.azurecr.io.evil.example".to_string(),
            "azurecr.io".to_string(),
            ".azurecr.io".to_string(),
            "my_acr.azurecr.io".to_string(),
            // The name before a hash is still 5 to 50 letters and digits; one hash only.
            "my-acr.azurecr.io".to_string(),
            "myacr-.azurecr.io".to_string(),
            "-myacr.azurecr.io".to_string(),
            "myacr-abc-def.azurecr.io".to_string(),
            "myacr--abc.azurecr.io".to_string(),
            "myacr-ab_c.azurecr.io".to_string(),
            format!("{fifty_one}-abc.azurecr.io"),
            format!("{}-{}.azurecr.io", "a".repeat(50), "b".repeat(13)),
            "acr1.azurecr.io".to_string(),
            format!("{fifty_one}.azurecr.io"),
            // Only `.<region>.geo` may sit between the name and the suffix.
            "myacr.eastus.azurecr.io".to_string(),
            "myacr.geo.azurecr.io".to_string(),
            ".eastus.geo.azurecr.io".to_string(),
            "myacr..geo.azurecr.io".to_string(),
            "myacr.east-us.geo.azurecr.io".to_string(),
            "a.myacr.eastus.geo.azurecr.io".to_string(),
            "myacr.eastus.geo.geo.azurecr.io".to_string(),
            "myacr.eastus.data.azurecr.io".to_string(),
            "evil.example.myacr.azurecr.io".to_string(),
            "myacrazurecr.io".to_string(),
            "myacr.notazurecr.io".to_string(),
            "myacr.azurecr.de".to_string(),
            "myacr.azurecr.com".to_string(),
            "myacr.azurecr.io.".to_string(),
            // A hostname has no port; the caller strips it first.
            "myacr.azurecr.io:443".to_string(),
            "myacr.azurecr.io:5000".to_string(),
            "myäcr.azurecr.io".to_string(),
            "ｍｙａｃｒ.azurecr.io".to_string(),
            "".to_string(),
        ] {
            assert!(!is_acr_host(&h), "should reject {h:?}");
        }
        for input in [
            "myacr.azurecr.io.evil.example",
            "https://myacr.azurecr.io.evil.example/v2/",
            "evil.example/myacr.azurecr.io",
            "azurecr.io",
            "my_acr.azurecr.io",
            "myacr.azurecr.io.evil.example:443",
        ] {
            assert!(!acr(input), "should reject {input}");
        }
    }
}
