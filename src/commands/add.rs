//! `add`: create or replace one registry's record. Values come from the environment variables
//! the caller names (the design documents' `base_image_creds` list) or from a JSON object on
//! stdin; argv only ever holds names.

use super::checks;
use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::context::Context;
use crate::credential_type::{
    self, CredentialType, AWS_CREDENTIALS_SOURCE, AWS_PROFILE, GOOGLE_PATH,
};
use crate::detect;
use crate::env::Env;
use crate::output::Output;
use crate::record::{Credentials, Lifecycle, Record, RecordError};
use crate::registry::Registry;
use secrecy::ExposeSecret;
use std::io::Read;

pub(crate) const ABOUT: &str =
    "Store a registry's credentials from env variables or stdin (never from argv)";

pub(crate) const EXAMPLES: &str = "\
Examples:
  read -rs GITHUB_TOKEN && export GITHUB_TOKEN GITHUB_USERNAME=octocat   # paste the token, Enter
  docker-credential-beta9 add ghcr.io
  echo '{\"NGC_API_KEY\":\"...\"}' | docker-credential-beta9 add nvcr.io --json
  AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... docker-credential-beta9 add myacr.azurecr.io";

#[derive(clap::Args)]
pub(crate) struct AddArgs {
    /// Registry host or image reference: ghcr.io, nvcr.io/nvidia/pytorch:24.01, myuser/app
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Env variables to read (default: the type's names, e.g. GITHUB_USERNAME GITHUB_TOKEN)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// aws, gcp, azure, dockerhub, ghcr, ngc or generic (default: detected)
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    pub kind: Option<CredentialType>,
    /// Read {"NAME": "value", ...} from stdin instead of the environment
    #[arg(long, conflicts_with = "names")]
    pub json: bool,
    /// Check the login (for an image reference, a pull of it) against the registry first;
    /// store nothing if it fails
    #[arg(long)]
    pub verify: bool,
    /// With --verify: talk plain http to the registry (loopback falls back to it by itself)
    #[arg(long, requires = "verify")]
    pub plain_http: bool,
    /// Answer only for this long (90s, 15m, 2h, 7d), then as if absent; default: permanent
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = super::lifecycle::duration_arg)]
    pub expires_in: Option<u64>,
}

/// `--type`: one of the seven names (the core type knows nothing of clap).
// clap value parser: clap prints the String.
fn parse_type(s: &str) -> Result<CredentialType, String> {
    CredentialType::parse(s).ok_or_else(|| {
        let names: Vec<&str> = CredentialType::ALL.iter().map(|t| t.as_str()).collect();
        format!("expected one of: {}", names.join(", "))
    })
}

/// Where the values came from, for messages that say what to do next.
#[derive(Clone, Copy)]
enum Source {
    Named,
    TypeNames,
    Json,
}

pub(crate) fn run(ctx: &Context, args: &AddArgs, stdin: &mut dyn Read) -> CmdResult {
    let registry = actions::registry_arg(&args.reference)?;
    let forced = args.kind;
    let (creds, source) = if args.json {
        (from_json(stdin)?, Source::Json)
    } else if args.names.is_empty() {
        (
            from_type_names(&ctx.env, &registry, forced, &args.reference)?,
            Source::TypeNames,
        )
    } else {
        (from_named(&ctx.env, &args.names)?, Source::Named)
    };
    let creds = checks::inline_google_key(creds, true, &ctx.settings)?;
    let names: Vec<&str> = creds.names().collect();
    let kind = forced
        .or_else(|| detect::detect(&registry, &names))
        .ok_or_else(|| undetectable(&registry, &args.reference))?;
    if let Some(missing) = kind.missing(&|n| creds.contains(n)) {
        return Err(needs(kind, missing, source, &args.reference));
    }
    let record = Record {
        registry,
        kind,
        credentials: creds,
    };
    let what = if args.json { "JSON keys" } else { "NAMEs" };
    checks::check_record(&record, what)?;
    let verified = if args.verify {
        let image = checks::image_of(&args.reference, &record.registry);
        let v = checks::verify(ctx, &record, image, args.plain_http)
            .map_err(|m| Failure::user(m + "; nothing was stored"))?;
        Some(v)
    } else {
        None
    };
    let life = Lifecycle::new("add", args.expires_in, ctx.now());
    let saved = actions::save_as(ctx, &record, None, &life)?;
    let out = Output::line(saved.name.as_str());
    let out = match verified {
        Some(v) => out.note(v),
        None => out,
    };
    let out = out.note(format!(
        "{} {} credentials for {} in workspace {}",
        if saved.replaced { "replaced" } else { "stored" },
        record.kind,
        record.registry,
        ctx.workspace
    ));
    Ok(match checks::unrouted_note(ctx, &record.registry) {
        Some(n) => out.note(n),
        None => out,
    })
}

/// `add R NAME...`: every name must be known, set and non-empty.
fn from_named(env: &Env, names: &[String]) -> Result<Credentials, Failure> {
    if let Some(pos) = names
        .iter()
        .position(|n| !credential_type::is_known_name(n))
    {
        let hint = checks::suggest(&names[pos])
            .map(|s| format!("did you mean {s}?"))
            .unwrap_or_else(|| "see `docker-credential-beta9 add --help`".into());
        return Err(Failure::user(format!(
            "NAME {} is not a credential variable name this helper knows (not echoed, in case it is a value); {hint}",
            pos + 1
        )));
    }
    let mut creds = Credentials::new();
    for name in names {
        if !creds.contains(name) {
            creds.insert(name, checks::env_value(env, name)?);
        }
    }
    Ok(creds)
}

/// `add R` with no names: the names of the forced or detected type that are set in the env.
fn from_type_names(
    env: &Env,
    registry: &Registry,
    forced: Option<CredentialType>,
    reference: &str,
) -> Result<Credentials, Failure> {
    let kind = forced
        .or_else(|| detect::by_registry(registry))
        .ok_or_else(|| undetectable(registry, reference))?;
    let mut creds = Credentials::new();
    let extra: &[&str] = if kind == CredentialType::Gcp {
        &[GOOGLE_PATH]
    } else {
        &[]
    };
    for name in kind.names().iter().chain(extra) {
        // A shell's AWS_PROFILE is taken only with the ambient opt-in (listed before it); next to
        // stored keys it is the user's everyday setting, not a reason to refuse the keys.
        if *name == AWS_PROFILE && !creds.contains(AWS_CREDENTIALS_SOURCE) {
            continue;
        }
        // Unset and empty are skipped here: CI systems export unset secrets as empty strings.
        if let Some(v) = env
            .credential(name)
            .filter(|v| !v.expose_secret().is_empty())
        {
            creds.insert(name, v.clone());
        }
    }
    if creds.is_empty() {
        return Err(Failure::user(format!(
            "none of {} is set: export them first (or name the variables: add {reference} NAME...)",
            kind.names().join(", ")
        )));
    }
    Ok(creds)
}

/// `add R --json`: a JSON object of string values on stdin.
fn from_json(stdin: &mut dyn Read) -> Result<Credentials, Failure> {
    let buf = super::outcome::read_stdin(stdin)?;
    let creds: Credentials = serde_json::from_slice(buf.as_slice()).map_err(|e| {
        Failure::user(format!(
            "stdin must be a JSON object of \"NAME\": \"value\" strings (error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if creds.is_empty() {
        return Err(Failure::user("the JSON object on stdin is empty"));
    }
    if let Some((name, _)) = creds
        .iter()
        .find(|(n, v)| credential_type::is_known_name(n) && v.expose_secret().is_empty())
    {
        return Err(Failure::user(format!(
            "{name} is empty in the JSON object on stdin"
        )));
    }
    Ok(creds)
}

fn undetectable(registry: &Registry, reference: &str) -> Failure {
    Failure::user(format!(
        "cannot tell which credential type {registry} uses: name the variables (add {reference} USERNAME PASSWORD) or pass --type"
    ))
}

fn needs(kind: CredentialType, missing: &str, source: Source, reference: &str) -> Failure {
    let single = !missing.contains(' ');
    let hint = match source {
        Source::Json => "add it to the JSON object".to_string(),
        Source::Named if single => {
            format!("export {missing}=... and name it: add {reference} ... {missing}")
        }
        Source::TypeNames if single => format!("export {missing}=... first"),
        _ => "set one of them first".to_string(),
    };
    Failure::user(format!("{}: {hint}", RecordError::missing(kind, missing)))
}
