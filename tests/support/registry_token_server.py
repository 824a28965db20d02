#!/usr/bin/env python3
"""A Docker registry token server (docker's "token authentication" spec) for the doctor tests.

The real `docker-registry` (distribution 2.8) is configured with
`auth: token: {realm: http://127.0.0.1:PORT/token, service, issuer, rootcertbundle}` and trusts the
tokens this server signs; the registry verifies them exactly as it would a production token
service's (distribution `registry/auth/token`): RS256 signature, the signing certificate in the JWT
header's `x5c` chained to `rootcertbundle`, `iss`, `aud`, `exp`/`nbf`, and the `access` claim for
the repository and action of each request.

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]
  * with `Authorization: Basic` of a configured user and the right password: a token granting the
    requested `pull`/`push` on each repository the user may use; a repository listed in the user's
    `deny` answers 403 (as GHCR does for an account without access);
  * with a wrong user or password: 401;
  * without credentials: a token with no access at all (docker's anonymous flow), so the
    registry then refuses the manifest with 401.
  Reply: {"token", "access_token", "expires_in", "issued_at"} (the spec's shape).

CLI:
  python3 registry_token_server.py --state-dir DIR
Reads DIR/config.json: {"service", "issuer", "users": {NAME: {"password", "deny": [REPO...]}}}
(0600, written by the test: the password never goes on argv). Generates an RSA key and a
self-signed certificate, writes DIR/cert.pem (the registry's rootcertbundle), then `port` last
(tmp + rename) once listening on 127.0.0.1. Exits on EOF on stdin (the harness holds the pipe) and
on SIGTERM. Exit code 3: the `cryptography` package is missing.
"""

import argparse
import base64
import datetime
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.stdout = sys.stderr

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID
except ImportError:
    sys.stderr.write("registry_token_server: python3 `cryptography` is missing\n")
    sys.exit(3)


def log(msg):
    sys.stderr.write(f"registry_token_server: {msg}\n")
    sys.stderr.flush()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key_and_cert():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "beta9 test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


class State:
    def __init__(self, config, key, cert):
        self.config = config
        self.key = key
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.lock = threading.Lock()
        self.requests = 0


def sign(state, subject, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [state.x5c]}
    claims = {
        "iss": state.config["issuer"],
        "sub": subject,
        "aud": state.config["service"],
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = state.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    server_version = "beta9-registry-token/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # noqa: N802 (stdlib name)
        log("%s %s" % (self.address_string(), fmt % a))

    @property
    def st(self):
        return self.server.state

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        """(name, None) for good credentials, (None, status) for bad ones, (None, None) anonymous."""
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return None, None
        if not auth.startswith("Basic "):
            return None, 401
        try:
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:  # noqa: BLE001 - any malformed header is a 401
            return None, 401
        user = self.st.config["users"].get(name)
        if user is None or not hmac.compare_digest(user["password"], password):
            return None, 401
        return name, None

    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"error": "not found"})
        with self.st.lock:
            self.st.requests += 1
        q = urllib.parse.parse_qs(url.query)
        if q.get("service", [""])[0] != self.st.config["service"]:
            return self.reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
        name, status = self.user()
        if status:
            return self.reply(status, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        access = []
        for scope in q.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if kind != "repository" or not repo:
                continue
            if name is None:
                continue  # anonymous: nothing granted
            if repo in self.st.config["users"][name].get("deny", []):
                return self.reply(403, {"errors": [{"code": "DENIED", "message": "no access"}]})
            granted = [a for a in actions.split(",") if a in ("pull", "push")]
            access.append({"type": "repository", "name": repo, "actions": granted})
        token = sign(self.st, name or "", access)
        issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300, "issued_at": issued})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--state-dir", required=True)
    args = p.parse_args()
    with open(os.path.join(args.state_dir, "config.json")) as f:
        config = json.load(f)
    key, cert = make_key_and_cert()
    cert_path = os.path.join(args.state_dir, "cert.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(config, key, cert)
    port_tmp = os.path.join(args.state_dir, "port.tmp")
    with open(port_tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_tmp, os.path.join(args.state_dir, "port"))

    def stdin_watch():
        while sys.stdin.buffer.read(4096):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stdin_watch, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f"listening on 127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    main()
