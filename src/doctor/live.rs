//! The live check, as a client pulls (docs/clients.md, "Registry v2 pull authentication"): the
//! `/v2/` challenge, Basic or the token endpoint, the manifest. Every decision is made from the
//! registry's answers, which come through [`Exchange`]: [`probe::Client`] asks the network, unit
//! tests hand canned answers.

use super::model::{step, Cause, Mark, Options, Reference, Step};
use super::probe::{self, Answer, Client, Method, Scheme};
use super::trust;
use super::words::{add_command, add_hint, allowance, challenge_words, rate_limit_fix, said};
use crate::context::Context;
use crate::error::printable;
use crate::login::Login;
use crate::net::url::Url;
use crate::net::NetError;
use crate::registry::Registry;
use rustls_pki_types::CertificateDer;
use secrecy::ExposeSecret;
use std::time::Duration;
use zeroize::Zeroizing;

/// The requests the live check makes. [`probe::Client`] makes them over the network, with one
/// time budget for all.
pub(super) trait Exchange {
    /// One request; any status is an answer. `auth` is an `Authorization` value.
    fn request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, NetError>;
    /// `GET url` (no credential) trusting `roots` beside the system's: whether a client with
    /// only those anchors gets an answer.
    fn ping_trusting(&self, url: &str, roots: &[CertificateDer<'static>]) -> Result<u16, NetError>;
    /// `through the proxy in HTTPS_PROXY (host:port)` when a request to `url` goes through one.
    fn via(&self, url: &str) -> Option<String>;
    /// The time budget, for the words of a timeout.
    fn budget(&self) -> Duration;
}

impl Exchange for Client {
    fn request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, NetError> {
        Client::request(self, method, url, auth, accept)
    }
    fn ping_trusting(&self, url: &str, roots: &[CertificateDer<'static>]) -> Result<u16, NetError> {
        Client::ping_trusting(self, url, roots)
    }
    fn via(&self, url: &str) -> Option<String> {
        Client::via(self, url)
    }
    fn budget(&self) -> Duration {
        Client::budget(self)
    }
}

pub(super) struct Target<'a> {
    pub(super) registry: &'a Registry,
    /// The repository and tag or digest to pull; `None` checks the login only (`add HOST
    /// --verify`): the token endpoint is asked without a scope, as `docker login` asks it.
    pub(super) image: Option<(&'a str, &'a Reference)>,
}

/// The host a client talks to for a registry (Hub's API is on registry-1.docker.io).
pub(super) fn api_host(registry: &Registry) -> String {
    if registry.is_docker_hub() {
        "registry-1.docker.io".into()
    } else {
        registry.host().to_string()
    }
}

fn is_loopback(host: &str) -> bool {
    Url::parse(&format!("http://{host}/")).is_some_and(|u| u.is_loopback())
}

/// `Basic base64(user:secret)`.
fn basic(login: &Login) -> Zeroizing<String> {
    use base64::Engine as _;
    let pair = Zeroizing::new(format!(
        "{}:{}",
        login.username.expose_secret(),
        login.secret.expose_secret()
    ));
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ))
}

/// docker's marker for an identity (refresh) token in place of a password.
fn is_identity_token(login: &Login) -> bool {
    login.username.expose_secret() == "<token>"
}

/// The live check: connect (challenge), auth, manifest. Returns whether the manifest was found
/// without any login.
pub(super) fn live(
    ctx: &Context,
    t: &Target,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
    answered: &mut dyn FnMut(&[Step]),
) -> bool {
    live_guarded(ctx, t, login, opts, None, steps, answered)
}

/// [`live`] with every request's host checked by `guard` first (a record from outside this
/// machine: docs/records.md, "Verify targets"); a refused request is never sent.
pub(super) fn live_guarded(
    ctx: &Context,
    t: &Target,
    login: Option<&Login>,
    opts: &Options,
    guard: Option<std::sync::Arc<crate::net::addr::Guard>>,
    steps: &mut Vec<Step>,
    answered: &mut dyn FnMut(&[Step]),
) -> bool {
    let host = api_host(t.registry);
    let proxies = match ctx.proxies() {
        Ok(p) => p,
        Err(e) => {
            steps.push(
                step("connect", Mark::Fail, e.to_string())
                    .fix("fix or unset that proxy variable (docs/proxies.md)".to_string())
                    .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "the registry was not reached"));
            steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
            return false;
        }
    };
    // What each client family trusts for this host (docs/clients.md, "Registry certificates").
    let trust = trust::Trust::for_host(&ctx.settings, &host);
    let client = Client::new(ctx.budget(), proxies)
        .with_roots(trust.union())
        .with_guard(guard);
    let with = Live {
        net: &client,
        trust: &trust,
        workspace: &ctx.workspace,
    };
    check(&with, t, login, opts, steps, answered)
}

/// What the live check runs against: the exchanges with the registry, what the client families
/// trust for its host, and the workspace the fixes name.
pub(super) struct Live<'a> {
    pub(super) net: &'a dyn Exchange,
    pub(super) trust: &'a trust::Trust,
    pub(super) workspace: &'a str,
}

/// [`live`] over `with`: every decision from the registry's answers.
pub(super) fn check(
    with: &Live,
    t: &Target,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
    answered: &mut dyn FnMut(&[Step]),
) -> bool {
    let host = api_host(t.registry);
    let Some((base, challenge)) = connect(with, &host, opts, steps) else {
        return false;
    };
    answered(steps);
    let Some(authorization) = authorize(with, t, &base, challenge.as_ref(), login, opts, steps)
    else {
        return false;
    };
    let Some((repo, reference)) = t.image else {
        steps.push(step(
            "manifest",
            Mark::Skip,
            "no image named: the login only was checked",
        ));
        return false;
    };
    let with_login = login.is_some() && authorization.is_some();
    manifest(
        with,
        t.registry,
        &base,
        (repo, reference),
        authorization.as_ref().map(|h| h.as_str()),
        with_login,
        steps,
    )
}

/// The `connect` step: `GET /v2/` over https (and plain http where allowed), the challenge it
/// answers with, and whether each family trusts the certificate. The base URL and the challenge
/// to answer, or `None` when the run stops here (the later steps are pushed as skipped).
fn connect(
    with: &Live,
    host: &str,
    opts: &Options,
    steps: &mut Vec<Step>,
) -> Option<(String, Option<probe::Challenge>)> {
    let (client, trust) = (with.net, with.trust);

    let loopback = is_loopback(host);
    let budget = client.budget();
    let schemes: &[Scheme] = if opts.plain_http {
        &[Scheme::Http]
    } else if loopback {
        &[Scheme::Https, Scheme::Http]
    } else {
        &[Scheme::Https]
    };
    let mut failed: Vec<String> = Vec::new();
    let mut found: Option<(Scheme, Answer)> = None;
    for scheme in schemes {
        let url = format!("{}://{host}/v2/", scheme.as_str());
        match client.request(Method::Get, &url, None, None) {
            Ok(a) => {
                found = Some((*scheme, a));
                break;
            }
            Err(NetError::Timeout) => {
                failed.push(format!(
                    "{}: {}",
                    scheme.as_str(),
                    NetError::Timeout.describe(budget)
                ));
                break;
            }
            // The registry speaks TLS but its certificate is refused: plain http on that port
            // answers 400, which says nothing (docs/clients.md, "Registry certificates").
            Err(NetError::Certificate(p)) => {
                let (detail, fix) = trust::refused(trust, &p, loopback);
                steps.push(
                    step("connect", Mark::Fail, detail.clone())
                        .fix(fix)
                        .cause(Cause::Unreachable(detail)),
                );
                steps.push(step("auth", Mark::Skip, "the registry was not reached"));
                steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
                return None;
            }
            Err(e) => failed.push(format!("{}: {}", scheme.as_str(), e.describe(budget))),
        }
    }
    let proxied = |scheme: Scheme| {
        client
            .via(&format!("{}://{host}/v2/", scheme.as_str()))
            .map_or_else(String::new, |v| format!(" {v}"))
    };
    let Some((scheme, ping)) = found else {
        let fix = if loopback || opts.plain_http {
            format!("start the registry or check the address {host}")
        } else {
            format!("check that {host} is reachable from here (DNS, firewall, VPN); a registry on plain http needs --plain-http")
        };
        let through = schemes.first().map_or_else(String::new, |s| proxied(*s));
        let detail = format!("cannot reach {host}{through}: {}", failed.join("; "));
        steps.push(
            step("connect", Mark::Fail, detail.clone())
                .fix(fix)
                .cause(Cause::Unreachable(detail)),
        );
        steps.push(step("auth", Mark::Skip, "the registry was not reached"));
        steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
        return None;
    };
    let base = format!("{}://{host}", scheme.as_str());
    let via = if scheme == Scheme::Http && !opts.plain_http {
        format!(
            " over plain http ({}; allowed because the registry is on loopback, as docker treats 127.0.0.0/8)",
            failed.join("; ")
        )
    } else {
        proxied(scheme)
    };
    let challenge = ping
        .challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| ping.challenges.iter().find(|c| c.scheme == "basic"))
        .cloned();
    match (ping.status, &challenge) {
        (401, Some(c)) => steps.push(step(
            "connect",
            Mark::Ok,
            format!(
                "GET {base}/v2/ answered 401 with {}{via}",
                challenge_words(c)
            ),
        )),
        (200, _) => steps.push(step(
            "connect",
            Mark::Ok,
            format!("GET {base}/v2/ answered 200: no credential asked at /v2/{via}"),
        )),
        (401, None) => {
            steps.push(
                step(
                    "connect",
                    Mark::Fail,
                    format!("GET {base}/v2/ answered 401 without a Basic or Bearer challenge"),
                )
                .fix("the registry's auth is not something docker clients can use")
                .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "no challenge to answer"));
            steps.push(step("manifest", Mark::Skip, "no challenge to answer"));
            return None;
        }
        (status, _) => {
            steps.push(
                step(
                    "connect",
                    Mark::Fail,
                    format!("GET {base}/v2/ answered {status}: not a registry v2 API there"),
                )
                .fix(format!("check the registry address {host}"))
                .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "no registry API"));
            steps.push(step("manifest", Mark::Skip, "no registry API"));
            return None;
        }
    }
    if scheme == Scheme::Https {
        let url = format!("{base}/v2/");
        let ping = |roots: &[_]| client.ping_trusting(&url, roots);
        if let (Some((words, fix)), Some(s)) =
            (trust::families(trust, loopback, &ping), steps.last_mut())
        {
            s.detail.push_str(&words);
            // Some family refuses the certificate: the pull works for the others.
            if fix.is_some() {
                s.mark = Mark::Warn;
                s.fix = fix;
            }
        }
    }
    Some((base, challenge))
}

/// The `auth` step: the stored login answered to the challenge (Basic at `/v2/`, or the token
/// endpoint for Bearer). The `Authorization` the manifest request carries (`None`: none), or
/// `None` when the run stops here.
fn authorize(
    with: &Live,
    t: &Target,
    base: &str,
    challenge: Option<&probe::Challenge>,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
) -> Option<Option<Zeroizing<String>>> {
    let client = with.net;
    let budget = client.budget();
    let scope = t.image.map(|(repo, _)| format!("repository:{repo}:pull"));
    // What the manifest request carries.
    let authorization: Option<Zeroizing<String>> = match (&challenge, login) {
        (None, _) => {
            steps.push(step(
                "auth",
                Mark::Skip,
                "the registry asked for no credential",
            ));
            None
        }
        (Some(c), Some(l)) if c.scheme == "basic" => {
            if is_identity_token(l) {
                steps.push(
                    step("auth", Mark::Fail, "the stored login is an identity token, which a Basic challenge cannot take")
                        .fix("store a username and password for this registry")
                        .cause(Cause::Other),
                );
                steps.push(step("manifest", Mark::Skip, "no accepted login"));
                return None;
            }
            let header = basic(l);
            match client.request(Method::Get, &format!("{base}/v2/"), Some(&header), None) {
                Ok(a) if a.status == 200 => {
                    steps.push(step(
                        "auth",
                        Mark::Ok,
                        format!(
                            "GET {base}/v2/ with the stored login: 200, the registry accepts it"
                        ),
                    ));
                    Some(header)
                }
                Ok(a) if a.status == 401 => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            "401 at /v2/ with the stored login: the registry rejects it",
                        )
                        .fix(format!(
                            "store the right password: `docker login {}` (routed here), or {}",
                            t.registry.host(),
                            add_command(with.workspace, t.registry)
                        ))
                        .cause(Cause::Rejected(said(&a))),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return None;
                }
                Ok(a) => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            format!("GET /v2/ with the stored login answered {}", a.status),
                        )
                        .fix("check the registry's logs")
                        .cause(if a.status == 403 {
                            Cause::Rejected(said(&a))
                        } else {
                            Cause::Other
                        }),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return None;
                }
                Err(e) => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            format!("GET /v2/ with the stored login: {}", e.describe(budget)),
                        )
                        .cause(Cause::Unreachable(e.describe(budget))),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return None;
                }
            }
        }
        (Some(c), login) if c.scheme == "bearer" => {
            match bearer(client, c, scope.as_deref(), login, opts, steps) {
                Some(h) => Some(h),
                None => {
                    steps.push(step("manifest", Mark::Skip, "no token"));
                    return None;
                }
            }
        }
        (Some(_), _) => {
            steps.push(step("auth", Mark::Skip, "no login to try"));
            None
        }
    };
    Some(authorization)
}

/// The `manifest` step: `HEAD` of the manifest as a pull asks for it, with `authorization`.
/// Whether it was served without a login.
fn manifest(
    with: &Live,
    registry: &Registry,
    base: &str,
    (repo, reference): (&str, &Reference),
    authorization: Option<&str>,
    with_login: bool,
    steps: &mut Vec<Step>,
) -> bool {
    let client = with.net;
    let budget = client.budget();
    let url = format!("{base}/v2/{repo}/manifests/{}", reference.as_str());
    let what = match reference {
        Reference::Tag(tag) => format!("{repo}:{tag}"),
        Reference::Digest(d) => format!("{repo}@{d}"),
    };
    match client.request(
        Method::Head,
        &url,
        authorization,
        Some(probe::MANIFEST_ACCEPT),
    ) {
        Ok(a) if a.status == 200 => {
            let digest = a
                .digest
                .map(|d| format!(" {}", printable(&d)))
                .unwrap_or_default();
            let media = a
                .content_type
                .map(|m| format!(" ({})", printable(&m)))
                .unwrap_or_default();
            let detail = format!(
                "HEAD /v2/{repo}/manifests/{}: 200,{digest}{media}",
                reference.as_str()
            );
            steps.push(match a.rate_limit {
                // The manifest is there, but the next pull's GET would be refused.
                Some(r) if r.remaining == 0 => step(
                    "manifest",
                    Mark::Warn,
                    format!(
                        "{detail}; {}: the next pull fails with 429 toomanyrequests",
                        allowance(&r)
                    ),
                )
                .fix(rate_limit_fix(with.workspace, registry, with_login)),
                Some(r) => step("manifest", Mark::Ok, format!("{detail}; {}", allowance(&r))),
                None => step("manifest", Mark::Ok, detail),
            });
            !with_login
        }
        Ok(a) if a.status == 429 => {
            let whose = if with_login {
                "this account's"
            } else {
                "anonymous (per address)"
            };
            let detail = match a.rate_limit {
                Some(r) if r.remaining > 0 => format!(
                    "manifest 429 toomanyrequests: the registry is throttling requests ({}, {whose} allowance)",
                    allowance(&r)
                ),
                Some(r) => format!(
                    "manifest 429 toomanyrequests: {whose} pull rate limit is used up ({})",
                    allowance(&r)
                ),
                None => format!(
                    "manifest 429 toomanyrequests: {whose} pull rate limit is used up or the registry is throttling requests"
                ),
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(rate_limit_fix(with.workspace, registry, with_login))
                    .cause(Cause::Other),
            );
            false
        }
        Ok(a) if a.status == 404 => {
            let detail = if with_login {
                format!("manifest 404: the credential works but {what} does not exist (no such tag or repository)")
            } else {
                format!("manifest 404: {what} does not exist (or is hidden from anonymous pulls)")
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(format!(
                        "check the name and tag: `skopeo list-tags docker://{}/{repo}` shows the tags",
                        registry.host(),
                    ))
                    .cause(Cause::Missing(said(&a))),
            );
            false
        }
        Ok(a) if matches!(a.status, 401 | 403) => {
            let detail = if with_login {
                format!("manifest {}: the account cannot pull {repo}", a.status)
            } else {
                format!("manifest {} without a login: {repo} needs one", a.status)
            };
            let fix = if with_login {
                format!("grant the account pull access to {repo}, or store a login that has it")
            } else {
                add_hint(with.workspace, registry)
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(fix)
                    .cause(Cause::NoPull(said(&a))),
            );
            false
        }
        Ok(a) => {
            steps.push(
                step(
                    "manifest",
                    Mark::Fail,
                    format!("HEAD of the manifest answered {}", a.status),
                )
                .fix("check the registry's logs")
                .cause(Cause::Other),
            );
            false
        }
        Err(e) => {
            steps.push(
                step(
                    "manifest",
                    Mark::Fail,
                    format!("HEAD of the manifest: {}", e.describe(budget)),
                )
                .cause(Cause::Unreachable(e.describe(budget))),
            );
            false
        }
    }
}

/// The token endpoint for a Bearer challenge: `GET realm?service=…&scope=…` with the login as
/// Basic auth (anonymous without one), or the OAuth2 refresh-token POST for an identity token.
/// Without a scope (the login only) the endpoint judges the login alone, as for `docker login`.
/// Pushes the `auth` step; the manifest's `Authorization` on success.
fn bearer(
    client: &dyn Exchange,
    c: &probe::Challenge,
    scope: Option<&str>,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
) -> Option<Zeroizing<String>> {
    let budget = client.budget();
    let Some(realm) = c.param("realm").filter(|r| !r.is_empty()) else {
        steps.push(
            step(
                "auth",
                Mark::Fail,
                "the Bearer challenge names no realm (token endpoint)",
            )
            .cause(Cause::Other),
        );
        return None;
    };
    let shown_realm = probe::shown_url(realm);
    let Some(u) = Url::parse(realm).filter(|u| u.scheme == "https" || u.scheme == "http") else {
        steps.push(
            step("auth", Mark::Fail, "the Bearer realm is not an http(s) URL").cause(Cause::Other),
        );
        return None;
    };
    if u.scheme == "http" && !u.is_loopback() && !opts.plain_http {
        steps.push(
            step(
                "auth",
                Mark::Fail,
                format!(
                    "the token endpoint {shown_realm} is plain http: the login is not sent over it"
                ),
            )
            .fix("pass --plain-http if that is really intended")
            .cause(Cause::Other),
        );
        return None;
    }
    let service = c.param("service").unwrap_or_default();
    let mut query: Vec<String> = Vec::new();
    if !service.is_empty() {
        query.push(format!("service={}", probe::encode(service)));
    }
    if let Some(scope) = scope {
        query.push(format!("scope={}", probe::encode(scope)));
    }
    let query = query.join("&");
    let anonymous = login.is_none();
    let answer = match login {
        Some(l) if is_identity_token(l) => {
            let sep = if query.is_empty() { "" } else { "&" };
            let body = Zeroizing::new(format!(
                "grant_type=refresh_token&client_id=docker-credential-beta9{sep}{query}&refresh_token={}",
                probe::encode(l.secret.expose_secret())
            ));
            client.request(
                Method::Form(body.as_bytes()),
                realm,
                None,
                Some("application/json"),
            )
        }
        _ => {
            let sep = match (query.is_empty(), realm.contains('?')) {
                (true, _) => "",
                (false, true) => "&",
                (false, false) => "?",
            };
            let url = format!("{realm}{sep}{query}");
            let header = login.map(basic);
            client.request(
                Method::Get,
                &url,
                header.as_ref().map(|h| h.as_str()),
                Some("application/json"),
            )
        }
    };
    token_step(answer, &shown_realm, scope, anonymous, budget, steps)
}

/// The `auth` step from the token endpoint's answer: the `Authorization` for the manifest when
/// it issued a token; what it said otherwise.
fn token_step(
    answer: Result<Answer, NetError>,
    shown_realm: &str,
    scope: Option<&str>,
    anonymous: bool,
    budget: Duration,
    steps: &mut Vec<Step>,
) -> Option<Zeroizing<String>> {
    let for_scope = scope.map_or_else(String::new, |s| format!(" for scope {s}"));
    let who = if anonymous {
        "anonymously"
    } else {
        "with the stored login"
    };
    match answer {
        Ok(a) if a.status == 200 => match probe::token_reply(&a.body) {
            Some(tok) => {
                let exp = tok
                    .expires_in
                    .map(|e| format!(", expires in {e}s"))
                    .unwrap_or_default();
                steps.push(step(
                    "auth",
                    Mark::Ok,
                    match scope {
                        Some(scope) => format!(
                            "token endpoint {shown_realm} issued a token for {scope} {who}{exp}"
                        ),
                        None => format!("token endpoint {shown_realm} issued a token {who}{exp}"),
                    },
                ));
                Some(Zeroizing::new(format!(
                    "Bearer {}",
                    tok.token.expose_secret()
                )))
            }
            None => {
                steps.push(
                    step(
                        "auth",
                        Mark::Fail,
                        format!("token endpoint {shown_realm} answered 200 without a token"),
                    )
                    .cause(Cause::Other),
                );
                None
            }
        },
        Ok(a) if a.status == 401 => {
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    if anonymous {
                        format!("token endpoint 401{for_scope} without a login: it needs one")
                    } else {
                        format!("token endpoint 401{for_scope}: the registry rejects the stored login")
                    },
                )
                .fix("store the right login for this registry (`docker login`, routed here, or `docker-credential-beta9 add`)")
                .cause(Cause::Rejected(said(&a))),
            );
            None
        }
        Ok(a) if a.status == 403 => {
            let Some(scope) = scope else {
                steps.push(
                    step(
                        "auth",
                        Mark::Fail,
                        "token endpoint 403: the registry refuses the stored login",
                    )
                    .cause(Cause::Rejected(said(&a))),
                );
                return None;
            };
            let repo = scope
                .strip_prefix("repository:")
                .and_then(|s| s.strip_suffix(":pull"))
                .unwrap_or(scope);
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint 403 for scope {scope}: the account cannot pull {repo}"),
                )
                .fix(format!(
                    "grant the account pull access to {repo}, or store a login that has it"
                ))
                .cause(Cause::NoPull(said(&a))),
            );
            None
        }
        Ok(a) => {
            let code = probe::error_code(&a.body)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint {shown_realm} answered {}{code}", a.status),
                )
                .cause(Cause::Other),
            );
            None
        }
        Err(e) => {
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint {shown_realm}: {}", e.describe(budget)),
                )
                .fix("check that the token service is reachable from here")
                .cause(Cause::Unreachable(format!(
                    "token endpoint {shown_realm}: {}",
                    e.describe(budget)
                ))),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every decision of the live check from canned answers: no network, no registry.

    use super::*;
    use crate::env::Env;
    use crate::net::tls::CertProblem;
    use crate::settings::Settings;
    use std::cell::RefCell;

    const HOST: &str = "registry.test";
    const PING: &str = "GET https://registry.test/v2/";
    const MANIFEST: &str = "HEAD https://registry.test/v2/team/app/manifests/1";
    const BEARER: &str = r#"Bearer realm="https://auth.test/token",service="registry.test""#;
    const TOKEN: &str = r#"{"token":"t0k","expires_in":300}"#;

    /// What a canned request answers.
    #[derive(Clone)]
    enum Reply {
        /// Status, `WWW-Authenticate`, body.
        Said(u16, &'static str, &'static str),
        /// Status and Docker Hub's pull allowance: limit, remaining, in a 6 h window.
        Limited(u16, u64, u64),
        Fails(NetError),
    }

    /// Records each request as `METHOD url [Basic|Bearer|refresh]` and answers it by the first
    /// canned prefix of that.
    struct Canned {
        replies: Vec<(&'static str, Reply)>,
        asked: RefCell<Vec<String>>,
    }

    impl Canned {
        fn new(replies: &[(&'static str, Reply)]) -> Canned {
            Canned {
                replies: replies.to_vec(),
                asked: RefCell::new(Vec::new()),
            }
        }

        fn asked(&self) -> Vec<String> {
            self.asked.borrow().clone()
        }
    }

    impl Exchange for Canned {
        fn request(
            &self,
            method: Method,
            url: &str,
            auth: Option<&str>,
            _accept: Option<&str>,
        ) -> Result<Answer, NetError> {
            let (verb, with) = match method {
                Method::Get => ("GET", auth),
                Method::Head => ("HEAD", auth),
                Method::Form(body) => (
                    "POST",
                    body.starts_with(b"grant_type=refresh_token&")
                        .then_some("refresh"),
                ),
            };
            let key = format!("{verb} {url}");
            let shown = match with.map(|a| a.split(' ').next().unwrap_or(a)) {
                Some(how) => format!("{key} {how}"),
                None => key.clone(),
            };
            self.asked.borrow_mut().push(shown.clone());
            let reply = self
                .replies
                .iter()
                .find(|(k, _)| shown.starts_with(k))
                .map(|(_, r)| r.clone());
            match reply {
                Some(Reply::Said(status, challenge, body)) => Ok(Answer {
                    status,
                    challenges: probe::parse_challenges(challenge),
                    digest: None,
                    content_type: None,
                    rate_limit: None,
                    body: Zeroizing::new(body.as_bytes().to_vec()),
                }),
                Some(Reply::Limited(status, limit, remaining)) => Ok(Answer {
                    status,
                    challenges: Vec::new(),
                    digest: None,
                    content_type: None,
                    rate_limit: Some(probe::RateLimit {
                        limit,
                        remaining,
                        window: Some(21_600),
                    }),
                    body: Zeroizing::new(Vec::new()),
                }),
                Some(Reply::Fails(e)) => Err(e),
                None => Err(NetError::Connect(format!("no canned answer for {key}"))),
            }
        }

        fn ping_trusting(&self, _: &str, _: &[CertificateDer<'static>]) -> Result<u16, NetError> {
            Ok(200)
        }

        fn via(&self, _: &str) -> Option<String> {
            None
        }

        fn budget(&self) -> Duration {
            Duration::from_secs(10)
        }
    }

    fn password() -> Login {
        Login::new("alice", &"pw".to_string().into())
    }

    /// docker's identity (refresh) token login.
    fn identity() -> Login {
        Login::new("<token>", &"refresh".to_string().into())
    }

    /// The live steps for `registry.test/team/app:1` (`image`: false checks the login only).
    fn steps_of(net: &Canned, login: Option<&Login>, image: bool, opts: &Options) -> Vec<Step> {
        let registry = Registry::from_server_url(HOST).unwrap();
        let reference = Reference::Tag("1".into());
        let t = Target {
            registry: &registry,
            image: image.then_some(("team/app", &reference)),
        };
        let env = Env::from_pairs([("HOME", "/nonexistent-home")]);
        let trust = trust::Trust::for_host(&Settings::new(&env), HOST);
        let with = Live {
            net,
            trust: &trust,
            workspace: crate::paths::DEFAULT_WORKSPACE,
        };
        let mut steps = Vec::new();
        check(&with, &t, login, opts, &mut steps, &mut |_| {});
        steps
    }

    fn pull(net: &Canned, login: Option<&Login>) -> Vec<Step> {
        steps_of(net, login, true, &Options::default())
    }

    fn named<'a>(steps: &'a [Step], name: &str) -> &'a Step {
        steps.iter().find(|s| s.name == name).unwrap()
    }

    fn marks(steps: &[Step]) -> Vec<(&str, Mark)> {
        steps.iter().map(|s| (s.name.as_str(), s.mark)).collect()
    }

    #[test]
    fn an_identity_token_is_a_refresh_grant_and_a_password_is_basic_at_the_token_endpoint() {
        let net = Canned::new(&[
            (PING, Reply::Said(401, BEARER, "")),
            ("POST https://auth.test/token", Reply::Said(200, "", TOKEN)),
            ("GET https://auth.test/token?", Reply::Said(200, "", TOKEN)),
            (MANIFEST, Reply::Said(200, "", "")),
        ]);
        let steps = pull(&net, Some(&identity()));
        assert!(steps.iter().all(|s| s.mark == Mark::Ok), "{steps:?}");
        assert_eq!(
            net.asked(),
            [
                PING.to_string(),
                "POST https://auth.test/token refresh".into(),
                format!("{MANIFEST} Bearer"),
            ]
        );
        let net = Canned::new(&net.replies);
        let steps = pull(&net, Some(&password()));
        assert!(steps.iter().all(|s| s.mark == Mark::Ok), "{steps:?}");
        assert_eq!(
            net.asked()[1],
            "GET https://auth.test/token?service=registry.test&scope=repository%3Ateam%2Fapp%3Apull Basic"
        );
        assert_eq!(
            named(&steps, "auth").detail,
            "token endpoint https://auth.test/token issued a token for repository:team/app:pull with the stored login, expires in 300s"
        );
    }

    #[test]
    fn a_basic_challenge_takes_a_password_and_refuses_an_identity_token_unsent() {
        let basic = Reply::Said(401, r#"Basic realm="r""#, "");
        let net = Canned::new(&[(PING, basic.clone()), (MANIFEST, Reply::Said(200, "", ""))]);
        let steps = pull(&net, Some(&identity()));
        let auth = named(&steps, "auth");
        assert_eq!(auth.mark, Mark::Fail);
        assert!(auth.detail.contains("identity token"), "{auth:?}");
        assert_eq!(auth.cause, Some(Cause::Other));
        assert_eq!(named(&steps, "manifest").mark, Mark::Skip);
        assert_eq!(net.asked(), [PING]);

        // The second GET /v2/ carries the login: 200 takes it, 401 rejects it.
        for (status, mark) in [(200, Mark::Ok), (401, Mark::Fail)] {
            let net = Canned::new(&[
                (
                    "GET https://registry.test/v2/ Basic",
                    Reply::Said(status, "", ""),
                ),
                (PING, basic.clone()),
                (MANIFEST, Reply::Said(200, "", "")),
            ]);
            let steps = pull(&net, Some(&password()));
            assert_eq!(named(&steps, "auth").mark, mark, "{steps:?}");
            assert_eq!(net.asked()[1], format!("{PING} Basic"));
            if status == 401 {
                assert_eq!(
                    named(&steps, "auth").cause,
                    Some(Cause::Rejected("401".into()))
                );
                assert_eq!(net.asked().len(), 2, "no manifest request");
            } else {
                assert_eq!(net.asked()[2], format!("{MANIFEST} Basic"));
            }
        }
    }

    #[test]
    fn a_plain_http_realm_is_refused_and_never_asked() {
        let net = Canned::new(&[
            (
                PING,
                Reply::Said(401, r#"Bearer realm="http://auth.test/token""#, ""),
            ),
            ("GET http://auth.test/", Reply::Said(200, "", TOKEN)),
        ]);
        let steps = pull(&net, Some(&password()));
        let auth = named(&steps, "auth");
        assert_eq!(auth.mark, Mark::Fail);
        assert_eq!(
            auth.detail,
            "the token endpoint http://auth.test/token is plain http: the login is not sent over it"
        );
        assert_eq!(named(&steps, "manifest").mark, Mark::Skip);
        assert_eq!(net.asked(), [PING]);
        // --plain-http allows it.
        let opts = Options {
            plain_http: true,
            ..Options::default()
        };
        let net = Canned::new(&[
            (
                "GET http://registry.test/v2/",
                Reply::Said(401, r#"Bearer realm="http://auth.test/token""#, ""),
            ),
            ("GET http://auth.test/", Reply::Said(200, "", TOKEN)),
            (
                "HEAD http://registry.test/v2/team/app/manifests/1",
                Reply::Said(200, "", ""),
            ),
        ]);
        let steps = steps_of(&net, Some(&password()), true, &opts);
        assert!(steps.iter().all(|s| s.mark == Mark::Ok), "{steps:?}");
    }

    #[test]
    fn token_endpoint_401_is_a_rejected_login_and_403_a_repository_it_may_not_pull() {
        let denied = r#"{"errors":[{"code":"DENIED"}]}"#;
        for (status, body, cause) in [
            (401, "", Cause::Rejected("401".into())),
            (403, denied, Cause::NoPull("403 DENIED".into())),
            (500, "", Cause::Other),
        ] {
            let net = Canned::new(&[
                (PING, Reply::Said(401, BEARER, "")),
                ("GET https://auth.test/token", Reply::Said(status, "", body)),
            ]);
            let steps = pull(&net, Some(&password()));
            let auth = named(&steps, "auth");
            assert_eq!((auth.mark, auth.cause.clone()), (Mark::Fail, Some(cause)));
            assert_eq!(named(&steps, "manifest").detail, "no token");
        }
        // Anonymous: the endpoint wants a login.
        let net = Canned::new(&[
            (PING, Reply::Said(401, BEARER, "")),
            ("GET https://auth.test/token", Reply::Said(401, "", "")),
        ]);
        let auth = named(&pull(&net, None), "auth").clone();
        assert_eq!(
            auth.detail,
            "token endpoint 401 for scope repository:team/app:pull without a login: it needs one"
        );
        assert_eq!(net.asked()[1].split(' ').count(), 2, "no Authorization");
    }

    #[test]
    fn a_token_endpoint_200_without_a_token_fails_auth() {
        for body in ["{}", r#"{"token":""}"#, "not json"] {
            let net = Canned::new(&[
                (PING, Reply::Said(401, BEARER, "")),
                ("GET https://auth.test/token", Reply::Said(200, "", body)),
            ]);
            let steps = pull(&net, Some(&password()));
            let auth = named(&steps, "auth");
            assert_eq!(auth.mark, Mark::Fail);
            assert_eq!(
                auth.detail,
                "token endpoint https://auth.test/token answered 200 without a token"
            );
            assert_eq!(net.asked().len(), 2, "no manifest request");
        }
    }

    #[test]
    fn manifest_401_403_404_429_each_say_what_failed() {
        let cases: [(u16, &str, Option<Cause>, &str); 5] = [
            (
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
                Some(Cause::NoPull("401 UNAUTHORIZED".into())),
                "manifest 401: the account cannot pull team/app",
            ),
            (
                403,
                "",
                Some(Cause::NoPull("403".into())),
                "manifest 403: the account cannot pull team/app",
            ),
            (
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
                Some(Cause::Missing("404 MANIFEST_UNKNOWN".into())),
                "manifest 404: the credential works but team/app:1 does not exist (no such tag or repository)",
            ),
            (
                429,
                "",
                Some(Cause::Other),
                "manifest 429 toomanyrequests: this account's pull rate limit is used up or the registry is throttling requests",
            ),
            (200, "", None, "HEAD /v2/team/app/manifests/1: 200,"),
        ];
        for (status, body, cause, detail) in cases {
            let net = Canned::new(&[
                (PING, Reply::Said(401, BEARER, "")),
                ("GET https://auth.test/token", Reply::Said(200, "", TOKEN)),
                (MANIFEST, Reply::Said(status, "", body)),
            ]);
            let steps = pull(&net, Some(&password()));
            let m = named(&steps, "manifest");
            assert_eq!((m.cause.clone(), m.detail.as_str()), (cause, detail));
            let want = if status == 200 { Mark::Ok } else { Mark::Fail };
            assert_eq!(m.mark, want);
        }
        // Without a login, a 401 names the add command; a 404 may be a hidden repository.
        let net = Canned::new(&[
            (PING, Reply::Said(200, "", "")),
            (MANIFEST, Reply::Said(401, "", "")),
        ]);
        let m = named(&pull(&net, None), "manifest").clone();
        assert_eq!(m.detail, "manifest 401 without a login: team/app needs one");
        assert!(m.fix.unwrap().contains("add registry.test"));
    }

    #[test]
    fn a_200_at_v2_asks_for_no_credential_and_a_served_manifest_is_anonymous() {
        let net = Canned::new(&[
            (PING, Reply::Said(200, "", "")),
            (MANIFEST, Reply::Said(200, "", "")),
        ]);
        let mut steps = Vec::new();
        let registry = Registry::from_server_url(HOST).unwrap();
        let reference = Reference::Tag("1".into());
        let t = Target {
            registry: &registry,
            image: Some(("team/app", &reference)),
        };
        let trust = trust::Trust::for_host(
            &Settings::new(&Env::from_pairs([("HOME", "/nonexistent-home")])),
            HOST,
        );
        let with = Live {
            net: &net,
            trust: &trust,
            workspace: "default",
        };
        let anonymous_ok = check(
            &with,
            &t,
            None,
            &Options::default(),
            &mut steps,
            &mut |_| {},
        );
        assert!(anonymous_ok);
        assert_eq!(
            marks(&steps),
            [
                ("connect", Mark::Ok),
                ("auth", Mark::Skip),
                ("manifest", Mark::Ok)
            ]
        );
        assert_eq!(net.asked(), [PING, MANIFEST]);
    }

    #[test]
    fn a_tls_failure_is_unreachable_and_a_refused_certificate_says_whose() {
        let net = Canned::new(&[(PING, Reply::Fails(NetError::Tls("handshake failed".into())))]);
        let steps = pull(&net, Some(&password()));
        assert_eq!(
            marks(&steps),
            [
                ("connect", Mark::Fail),
                ("auth", Mark::Skip),
                ("manifest", Mark::Skip)
            ]
        );
        let c = named(&steps, "connect");
        assert_eq!(
            c.detail,
            "cannot reach registry.test: https: handshake failed"
        );
        assert_eq!(c.cause, Some(Cause::Unreachable(c.detail.clone())));
        // No plain http fallback off loopback.
        assert_eq!(net.asked(), [PING]);

        let net = Canned::new(&[(
            PING,
            Reply::Fails(NetError::Certificate(CertProblem::UnknownAuthority)),
        )]);
        let steps = pull(&net, Some(&password()));
        let c = named(&steps, "connect");
        assert_eq!(c.mark, Mark::Fail);
        assert!(matches!(c.cause, Some(Cause::Unreachable(_))), "{c:?}");
        assert!(c.fix.as_deref().unwrap().contains("certs.d"), "{c:?}");
        assert_eq!(net.asked(), [PING]);
    }

    #[test]
    fn a_used_up_allowance_warns_on_a_served_manifest_and_a_429_says_whose() {
        let cases = [
            (Reply::Limited(200, 100, 76), Mark::Ok, "rate limit: 76 of 100 pulls left in this 6 h window"),
            (Reply::Limited(200, 100, 0), Mark::Warn, "the next pull fails with 429 toomanyrequests"),
            (Reply::Limited(429, 100, 0), Mark::Fail, "manifest 429 toomanyrequests: anonymous (per address) pull rate limit is used up (rate limit: 0 of 100 pulls left in this 6 h window)"),
            (Reply::Limited(429, 100, 5), Mark::Fail, "the registry is throttling requests"),
        ];
        for (reply, mark, words) in cases {
            let net = Canned::new(&[(PING, Reply::Said(200, "", "")), (MANIFEST, reply)]);
            let steps = pull(&net, None);
            let m = named(&steps, "manifest");
            assert_eq!(m.mark, mark, "{m:?}");
            assert!(m.detail.contains(words), "{m:?}");
            if mark != Mark::Ok {
                // Anonymous pulls share the address's allowance: store a login.
                assert!(
                    m.fix.as_deref().unwrap().contains("small allowance"),
                    "{m:?}"
                );
            }
        }
    }

    #[test]
    fn a_v2_that_is_not_a_registry_or_has_no_usable_challenge_stops_at_connect() {
        for (reply, words) in [
            (
                Reply::Said(404, "", ""),
                "GET https://registry.test/v2/ answered 404: not a registry v2 API there",
            ),
            (
                Reply::Said(401, r#"Negotiate"#, ""),
                "GET https://registry.test/v2/ answered 401 without a Basic or Bearer challenge",
            ),
            (
                Reply::Fails(NetError::Timeout),
                "cannot reach registry.test: https: no answer within 10 s (BETA9_TIMEOUT)",
            ),
        ] {
            let net = Canned::new(&[(PING, reply)]);
            let steps = pull(&net, Some(&password()));
            let c = named(&steps, "connect");
            assert_eq!((c.mark, c.detail.as_str()), (Mark::Fail, words));
            assert_eq!(
                marks(&steps)[1..],
                [("auth", Mark::Skip), ("manifest", Mark::Skip)]
            );
            assert_eq!(net.asked(), [PING]);
        }
    }

    #[test]
    fn a_loopback_registry_falls_back_to_plain_http_and_says_so() {
        let net = Canned::new(&[
            (
                "GET https://127.0.0.1:5000/v2/",
                Reply::Fails(NetError::Tls("the peer does not speak TLS".into())),
            ),
            ("GET http://127.0.0.1:5000/v2/", Reply::Said(200, "", "")),
            (
                "HEAD http://127.0.0.1:5000/v2/team/app/manifests/1",
                Reply::Said(200, "", ""),
            ),
        ]);
        let registry = Registry::from_server_url("127.0.0.1:5000").unwrap();
        let reference = Reference::Tag("1".into());
        let t = Target {
            registry: &registry,
            image: Some(("team/app", &reference)),
        };
        let trust = trust::Trust::for_host(
            &Settings::new(&Env::from_pairs([("HOME", "/nonexistent-home")])),
            "127.0.0.1:5000",
        );
        let with = Live {
            net: &net,
            trust: &trust,
            workspace: "default",
        };
        let mut steps = Vec::new();
        assert!(check(
            &with,
            &t,
            None,
            &Options::default(),
            &mut steps,
            &mut |_| {}
        ));
        assert_eq!(
            named(&steps, "connect").detail,
            "GET http://127.0.0.1:5000/v2/ answered 200: no credential asked at /v2/ over plain http (https: the peer does not speak TLS; allowed because the registry is on loopback, as docker treats 127.0.0.0/8)"
        );
    }

    #[test]
    fn a_bearer_challenge_without_an_http_realm_fails_auth_unasked() {
        for (challenge, words) in [
            (
                r#"Bearer service="registry.test""#,
                "the Bearer challenge names no realm (token endpoint)",
            ),
            (
                r#"Bearer realm="ftp://auth.test/token""#,
                "the Bearer realm is not an http(s) URL",
            ),
        ] {
            let net = Canned::new(&[(PING, Reply::Said(401, challenge, ""))]);
            let steps = pull(&net, Some(&password()));
            let auth = named(&steps, "auth");
            assert_eq!((auth.mark, auth.detail.as_str()), (Mark::Fail, words));
            assert_eq!(net.asked(), [PING]);
        }
    }
}
