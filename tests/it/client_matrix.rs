//! Doctor against the real clients, one routing form at a time (docs/clients.md, "The client
//! families"): for each form the machine is set up (in a sandbox: HOME, XDG_RUNTIME_DIR,
//! REGISTRY_AUTH_FILE, the store), `doctor` predicts the pull per family, and the clients CI has
//! pull the same image from the real registry (Debian's docker-registry with htpasswd):
//!
//! - docker CLI: `docker manifest inspect --insecure` (no daemon here, so no `docker pull`; the
//!   CLI resolves the credential itself for manifest inspect, with the same lookup);
//! - docker-py: `docker.auth.load_config` + `resolve_authconfig` (its own resolution, no daemon
//!   needed), then the manifest GET with what it resolved;
//! - skopeo: `skopeo inspect --raw`;
//! - podman: `podman pull` into a vfs store in the sandbox (`registry_env::containers_tool`:
//!   nothing of the machine's is written).
//!
//! The helper on the clients' PATH records each `get` and whether it answered with a login. Each
//! client's result must match its family's line: pulled with the helper's login ⇔ "the registry
//! accepts it"; pulled without it ⇔ "plaintext"; refused with the helper's login ⇔ "get the
//! entry" without "accepts"; refused with none (not asked, or not-found) ⇔ "pull anonymously" (or
//! the family reads no config file here).
//! Doctor's exit status is asserted per form.

use crate::doctor::line;
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{bin, tool_missing, Out, Sandbox, CANARY};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

const USER: &str = "beta9-tester";
const WRONG: &str = "not-the-password";
const REPO: &str = "beta9/tiny";
const TAG: &str = "v1";

/// What one client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Did {
    pulled: bool,
    /// This helper answered a `get` with a login (not not-found).
    helper_answered: bool,
}

struct Machine {
    s: Sandbox,
    helper_dir: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Machine {
    fn new() -> Machine {
        let mut s = Sandbox::new();
        let run = s.path().join("run");
        fs::create_dir_all(&run).unwrap();
        s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
        s.set_env("BETA9_TIMEOUT", "5");
        let helper_dir = s.path().join("helper-bin");
        fs::create_dir_all(&helper_dir).unwrap();
        let log = s.path().join("helper-calls.log");
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\nget)\n  printf 'get ' >>'{l}'\n  tee -a '{l}' | '{b}' \"$@\"\n  rc=$?\n  printf ' rc=%s\\n' \"$rc\" >>'{l}'\n  exit $rc ;;\n*)\n  exec '{b}' \"$@\" ;;\nesac\n",
            l = log.display(),
            b = bin().display()
        );
        let target = helper_dir.join("docker-credential-beta9");
        fs::write(&target, script).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        let env = vec![(
            "XDG_RUNTIME_DIR".to_string(),
            run.to_string_lossy().into_owned(),
        )];
        Machine {
            s,
            helper_dir,
            log,
            env,
        }
    }

    fn set_env(&mut self, k: &str, v: &str) {
        self.s.set_env(k, v);
        self.env.push((k.into(), v.into()));
    }

    fn docker_config(&self) -> PathBuf {
        let p = self.s.home().join(".docker/config.json");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    /// The login stored for `host`, and docker's config routing it with Go's `CredHelpers`
    /// spelling (docs/clients.md, "Key rules of config.json").
    fn route_with_go_spelling(&self, host: &str) {
        self.s.store(host, USER, CANARY).assert_ok();
        fs::write(
            self.docker_config(),
            format!(r#"{{"CredHelpers": {{"{host}": "beta9"}}}}"#),
        )
        .unwrap();
    }

    /// A client with only the sandbox's environment and the recording helper first on PATH.
    fn client(&self, program: &str, args: &[&str]) -> Command {
        let mut c = kit::client_command(program, self.s.path());
        c.args(args)
            .env_clear()
            .env("PATH", kit::path_with(&self.helper_dir))
            .env("HOME", self.s.home())
            .env("BETA9_CREDENTIALS_DIR", self.s.store_base())
            .env("TMPDIR", self.s.path())
            .current_dir(self.s.path());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, c: &mut Command) -> Did {
        let _ = fs::remove_file(&self.log);
        let o = kit::run_bounded(c, kit::CMD_TIMEOUT);
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!out.contains(CANARY), "a client printed the secret: {out}");
        let answered = fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("get ") && l.ends_with(" rc=0"));
        Did {
            pulled: o.status.success(),
            helper_answered: answered,
        }
    }

    fn docker_cli(&self, image: &str) -> Did {
        self.run(&mut self.client("docker", &["manifest", "inspect", "--insecure", image]))
    }

    fn docker_py(&self, python: &str, site: &str, reg: &Registry) -> Did {
        const SCRIPT: &str = "import base64, sys, urllib.request, urllib.error, docker.auth\n\
            host, repo, tag = sys.argv[1:4]\n\
            a = docker.auth.resolve_authconfig(docker.auth.load_config(), host) or {}\n\
            u = a.get('Username') or a.get('username')\n\
            p = a.get('Password') or a.get('password')\n\
            r = urllib.request.Request('http://%s/v2/%s/manifests/%s' % (host, repo, tag), headers={'Accept': 'application/vnd.oci.image.manifest.v1+json'})\n\
            if u and p:\n    r.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % (u, p)).encode()).decode())\n\
            try:\n    code = urllib.request.urlopen(r, timeout=20).status\n\
            except urllib.error.HTTPError as e:\n    code = e.code\n\
            sys.exit(0 if code == 200 else 1)\n";
        let mut c = self.client(python, &["-c", SCRIPT, &reg.host, REPO, TAG]);
        c.env("PYTHONPATH", site);
        self.run(&mut c)
    }

    fn skopeo(&self, image: &str) -> Did {
        let r = format!("docker://{image}");
        self.run(&mut self.client("skopeo", &["inspect", "--raw", "--tls-verify=false", &r]))
    }

    /// `podman pull` into the sandbox (`registry_env::containers_tool` keeps its storage and
    /// blob-info cache there, so nothing of the machine is written).
    fn podman(&self, image: &str) -> Did {
        self.run(&mut self.client("podman", &["pull", "--quiet", "--tls-verify=false", image]))
    }

    fn doctor(&self, image: &str) -> Out {
        crate::doctor::bounded_no_canary(&self.s, &["doctor", image])
    }
}

/// The part of a `pull.docker` line about one client (the line names the CLI and docker-py apart
/// when they differ).
fn part<'a>(line: &'a str, client: &str) -> &'a str {
    match line.split_once("; docker-py: ") {
        Some((cli, _)) if client == "docker CLI" => cli,
        Some((_, py)) => py,
        None => line,
    }
}

/// Does what doctor says about one client agree with what it did?
fn agrees(said: &str, did: Did) -> bool {
    match (did.pulled, did.helper_answered) {
        (true, true) => said.contains("the registry accepts it"),
        (true, false) => said.contains("plaintext") || said.contains("anonymously"),
        (false, true) => said.contains("and get the entry") && !said.contains("accepts it"),
        (false, false) => {
            said.contains("pull anonymously") || said.contains("read no client config file here")
        }
    }
}

fn shown(did: Did) -> &'static str {
    match (did.pulled, did.helper_answered) {
        (true, true) => "200 helper's login",
        (true, false) => "200 plaintext",
        (false, true) => "401 helper's login",
        (false, false) => "401 anonymous",
    }
}

#[test]
fn doctor_agrees_with_every_real_client_for_every_routing_form() {
    let t = "client_matrix::doctor_agrees_with_every_real_client_for_every_routing_form";
    if !tools_present(
        t,
        &[
            "docker-registry",
            "htpasswd",
            "skopeo",
            "podman",
            "docker",
            "unshare",
        ],
    ) {
        return;
    }
    let Some((python, site)) = kit::docker_py() else {
        tool_missing(t, "python3 with docker-py", "`import docker.auth` failed");
        return;
    };
    let reg = Registry::start(USER, CANARY);
    let push = reg.dir().join("push-auth.json");
    kit::write_plain_auth_file(&push, &reg.host, USER, CANARY);
    kit::push_tiny_image(&reg, REPO, TAG, &push);
    fs::remove_file(&push).unwrap();
    let host = reg.host.clone();
    let image = format!("{host}/{REPO}:{TAG}");

    type Setup = Box<dyn Fn(&mut Machine)>;
    let h = host.clone();
    let forms: Vec<(&str, Setup, i32)> = vec![
        (
            "credHelpers",
            Box::new(move |m: &mut Machine| {
                m.s.store(&h, USER, CANARY).assert_ok();
                m.s.run(&["configure-docker", &h, "--containers"], b"")
                    .assert_ok();
            }),
            0,
        ),
        (
            "credsStore",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    m.s.store(&h, USER, CANARY).assert_ok();
                    fs::write(m.docker_config(), r#"{"credsStore": "beta9"}"#).unwrap();
                }
            }),
            1,
        ),
        (
            "plaintext auths",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    kit::write_plain_auth_file(&m.docker_config(), &h, USER, CANARY);
                }
            }),
            1,
        ),
        (
            "CredHelpers spelling",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| m.route_with_go_spelling(&h)
            }),
            1,
        ),
        (
            "CredHelpers, then configure-docker",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    m.route_with_go_spelling(&h);
                    // doctor's fix for docker-py, run as written.
                    m.s.run(&["configure-docker", &h], b"").assert_ok();
                }
            }),
            0,
        ),
        (
            "credHelpers, login only in plaintext auths",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    let cfg = m.docker_config();
                    kit::write_plain_auth_file(&cfg, &h, USER, CANARY);
                    let text = fs::read_to_string(&cfg).unwrap();
                    let text =
                        text.replacen('{', &format!(r#"{{"credHelpers": {{"{h}": "beta9"}}, "#), 1);
                    fs::write(&cfg, text).unwrap();
                }
            }),
            1,
        ),
        (
            "REGISTRY_AUTH_FILE",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    m.s.store(&h, USER, CANARY).assert_ok();
                    let f = m.s.path().join("containers-auth.json");
                    kit::write_helper_auth_file(&f, &h, "beta9");
                    m.set_env("REGISTRY_AUTH_FILE", &f.to_string_lossy());
                }
            }),
            0,
        ),
        (
            "repository entries",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    m.s.store(&h, USER, WRONG).assert_ok();
                    m.s.store(&format!("{h}/{REPO}"), USER, CANARY).assert_ok();
                    m.s.run(&["configure-docker", &h, "--containers"], b"")
                        .assert_ok();
                }
            }),
            1,
        ),
        (
            "nothing routed",
            Box::new({
                let h = host.clone();
                move |m: &mut Machine| {
                    m.s.store(&h, USER, CANARY).assert_ok();
                }
            }),
            1,
        ),
    ];

    let mut table = vec![
        "| form | doctor (exit) | pull.docker | pull.containers | pull.ggcr | docker CLI | docker-py | skopeo | podman |".to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    for (form, setup, code) in &forms {
        let mut m = Machine::new();
        setup(&mut m);
        let o = m.doctor(&image);
        let docker = line(&o, "pull.docker");
        let containers = line(&o, "pull.containers");
        let ggcr = line(&o, "pull.ggcr");
        let did = [
            (
                "docker CLI",
                m.docker_cli(&image),
                part(docker, "docker CLI"),
            ),
            (
                "docker-py",
                m.docker_py(&python, &site, &reg),
                part(docker, "docker-py"),
            ),
            ("skopeo", m.skopeo(&image), containers),
            ("podman", m.podman(&image), containers),
        ];
        if o.code != *code {
            failures.push(format!(
                "{form}: doctor exit {} (wanted {code}): {o:?}",
                o.code
            ));
        }
        for (client, d, said) in &did {
            if !agrees(said, *d) {
                failures.push(format!("{form}: {client} did {d:?}, doctor said: {said}"));
            }
        }
        let mark = |l: &str| l.split_whitespace().next().unwrap_or_default().to_string();
        let result = o.stdout.lines().last().unwrap_or_default();
        let result = result
            .strip_prefix("result: ")
            .unwrap_or(result)
            .split(": ")
            .next()
            .unwrap_or_default()
            .to_string();
        table.push(format!(
            "| {form} | {result} ({}) | {} | {} | {} | {} | {} | {} | {} |",
            o.code,
            mark(docker),
            mark(containers),
            mark(ggcr),
            shown(did[0].1),
            shown(did[1].1),
            shown(did[2].1),
            shown(did[3].1),
        ));
        eprintln!("--- {form}\n{}", o.stdout);
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
