#!/usr/bin/env python3
"""Google OAuth token endpoint and GCE metadata server stand-in for docker-credential-beta9 tests.

A real check, not an echo: POST /token VERIFIES the JWT-bearer assertion the way Google's
endpoint does (RFC 7523, golang/oauth2 jwt + google packages):

* form body `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`;
* three unpadded base64url segments; header alg RS256, typ JWT, kid == the key id;
* RSASSA-PKCS1-v1_5 SHA-256 signature against the public half of the key pair generated at start
  (a second "unknown" key pair is generated too; its signatures do not verify);
* claims: iss == the service account email, scope == cloud-platform, aud == this endpoint's own
  URL, iat not in the future and not older than 10 minutes, 0 < exp - iat <= 3600, exp > now.

The refresh-token grant (RFC 6749 §6) of gcloud's `authorized_user` file is checked too: the form
must be exactly grant_type=refresh_token, client_id, client_secret and refresh_token, each equal
to the user.json this stub wrote (a random secret and a refresh token holding `/`, `+` and `=`, so
the form encoding is exercised).

Workload identity federation (an `external_account` file) is checked end to end:
* POST /v1/token is Google's STS: an RFC 8693 form with grant_type token-exchange, the pool
  AUDIENCE, scope cloud-platform, requested_token_type access_token, subject_token_type jwt and
  subject_token equal to the `subject-token` file this stub wrote; it answers a federated token
  `sts-<random>` (expires_in as configured).
* POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken is IAM Credentials: it needs
  `Authorization: Bearer <that federated token>` and a JSON body asking for cloud-platform, and
  answers {"accessToken": <--token>, "expireTime": RFC 3339}.
* GET /subject is a local identity endpoint (as Azure's instance metadata): it needs the header
  `Metadata: True` and answers {"access_token": <the subject token>}.

Only then does it answer {"access_token", "expires_in", "token_type": "Bearer"}. A failed check
answers 400 {"error": "invalid_grant", "error_description": ...} like Google.

GET /computeMetadata/v1/instance/service-accounts/default/token is the metadata server: it needs
the `Metadata-Flavor: Google` header (403 without it, as the real one) and answers the same shape.

Control endpoints (not counted):
  GET  /__count        -> number of token and metadata requests so far (plain text)
  GET  /__last_error   -> why the last assertion was refused ("" if none)
  GET  /__last_flavor  -> Metadata-Flavor header of the last metadata request ("" if none)
  POST /__mode/<mode>  -> normal | invalid_grant | throttle | fail500 | fail500once | hang
  POST /__reset        -> count = 0, last error cleared, mode normal
  POST /__expires_in/<seconds> -> expires_in of the tokens handed out from now on
  POST /__audience     -> body = the URL the assertion's aud must equal from now on (when the
                          stub is reached under another name, e.g. through a TLS front)

Modes affect token and metadata requests alike:
  invalid_grant  400 {"error":"invalid_grant"} whatever the assertion
  throttle       429 {"error":"rate_limit_exceeded"}
  fail500        500 every time
  fail500once    500 once, then normal
  hang           sleep --hang-seconds (default 30), then answer as normal

CLI:
  python3 gcp_token_server.py --state-dir DIR [--token TOKEN] [--expires-in S]
      [--client-email EMAIL] [--key-id KID] [--hang-seconds S] [--ignore-stdin]
Writes to DIR (files 0600): key-pkcs8.pem, key-pkcs1.pem (the known key, two encodings),
unknown-pkcs8.pem (a key it does not know), user.json (an authorized_user file for this stub),
subject-token (a subject token for the STS),
then `port` last (tmp + rename) once listening on
127.0.0.1 (port 0: the OS picks a free one). Exits on EOF on stdin (unless --ignore-stdin) and on
SIGTERM/SIGINT. Logs to stderr only. Exit code 3: the `cryptography` package is missing.
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
METADATA_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
AUDIENCE = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/beta9/providers/test"
MODES = ("normal", "invalid_grant", "throttle", "fail500", "fail500once", "hang")

sys.stdout = sys.stderr


def log(msg):
    sys.stderr.write(f"gcp_token_server: {msg}\n")
    sys.stderr.flush()


def b64url_decode(seg):
    if "=" in seg:
        raise ValueError("padded base64url segment")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


class State:
    def __init__(self, args, public_key):
        self.lock = threading.Lock()
        self.count = 0
        self.mode = "normal"
        self.last_error = ""
        self.last_flavor = ""
        self.args = args
        self.public_key = public_key
        self.url = ""
        self.user = {}
        self.subject = ""
        self.federated = ""


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class Handler(BaseHTTPRequestHandler):
    server_version = "gcp-token-stub/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # noqa: N802 (stdlib name)
        log("%s %s" % (self.address_string(), fmt % a))

    @property
    def st(self):
        return self.server.state

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def oauth_error(self, status, code, description):
        self.reply(status, json.dumps({"error": code, "error_description": description}))

    def token_reply(self):
        a = self.st.args
        with self.st.lock:
            expires_in = a.expires_in
        self.reply(200, json.dumps({
            "access_token": a.token,
            "expires_in": expires_in,
            "token_type": "Bearer",
        }))

    def mode_gate(self):
        """Applies the failure mode. True when the request was answered by it."""
        with self.st.lock:
            mode = self.st.mode
            if mode == "fail500once":
                self.st.mode = "normal"
        if mode == "invalid_grant":
            self.oauth_error(400, "invalid_grant", "mode invalid_grant")
        elif mode == "throttle":
            self.oauth_error(429, "rate_limit_exceeded", "mode throttle")
        elif mode in ("fail500", "fail500once"):
            self.oauth_error(500, "internal_failure", "mode " + mode)
        elif mode == "hang":
            time.sleep(self.st.args.hang_seconds)
            return False
        else:
            return False
        return True

    # ---- control -------------------------------------------------------
    def do_GET(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        if path == "/__count":
            with self.st.lock:
                return self.reply(200, str(self.st.count), "text/plain")
        if path == "/__last_error":
            with self.st.lock:
                return self.reply(200, self.st.last_error, "text/plain")
        if path == "/__last_flavor":
            with self.st.lock:
                return self.reply(200, self.st.last_flavor, "text/plain")
        if path == METADATA_PATH:
            return self.metadata()
        if path == "/subject":
            if self.headers.get("Metadata") != "True":
                return self.reply(400, "Metadata header required\n", "text/plain")
            return self.reply(200, json.dumps({"access_token": self.st.subject}))
        self.reply(404, "not found\n", "text/plain")

    def do_POST(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path.startswith("/__mode/"):
            mode = path[len("/__mode/"):]
            if mode not in MODES:
                return self.reply(400, "unknown mode\n", "text/plain")
            with self.st.lock:
                self.st.mode = mode
            return self.reply(200, mode, "text/plain")
        if path.startswith("/__expires_in/"):
            try:
                secs = int(path[len("/__expires_in/"):])
            except ValueError:
                return self.reply(400, "not a number of seconds\n", "text/plain")
            with self.st.lock:
                self.st.args.expires_in = secs
            return self.reply(200, str(secs), "text/plain")
        if path == "/__audience":
            with self.st.lock:
                self.st.url = body.decode()
            return self.reply(200, self.st.url, "text/plain")
        if path == "/__reset":
            with self.st.lock:
                self.st.count = 0
                self.st.last_error = ""
                self.st.last_flavor = ""
                self.st.mode = "normal"
            return self.reply(200, "ok", "text/plain")
        if path == "/token":
            return self.token(body)
        if path == "/v1/token":
            return self.sts(body)
        if path.startswith("/v1/projects/-/serviceAccounts/") and path.endswith(":generateAccessToken"):
            return self.impersonate(body)
        self.reply(404, "not found\n", "text/plain")

    # ---- the metadata server --------------------------------------------
    def metadata(self):
        flavor = self.headers.get("Metadata-Flavor") or ""
        with self.st.lock:
            self.st.count += 1
            self.st.last_flavor = flavor
        if flavor != "Google":
            # What the real server does without the header.
            return self.reply(403, "Missing required header: Metadata-Flavor\n", "text/html")
        if self.mode_gate():
            return
        self.token_reply()

    # ---- the OAuth token endpoint ----------------------------------------
    def token(self, body):
        with self.st.lock:
            self.st.count += 1
        if self.mode_gate():
            return
        err = self.verify(body)
        with self.st.lock:
            self.st.last_error = err or ""
        if err:
            log("refused: " + err)
            return self.oauth_error(400, "invalid_grant", err)
        self.token_reply()

    def sts(self, body):
        with self.st.lock:
            self.st.count += 1
        if self.mode_gate():
            return
        try:
            form = urllib.parse.parse_qs(body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            form = {}
        want = {
            "grant_type": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "audience": [AUDIENCE],
            "scope": [SCOPE],
            "requested_token_type": ["urn:ietf:params:oauth:token-type:access_token"],
            "subject_token_type": ["urn:ietf:params:oauth:token-type:jwt"],
            "subject_token": [self.st.subject],
        }
        err = None
        if sorted(form) != sorted(want):
            err = "sts form fields are %r" % sorted(form)
        else:
            for k, v in want.items():
                if form[k] != v:
                    err = "wrong " + k
                    break
        with self.st.lock:
            self.st.last_error = err or ""
        if err:
            log("sts refused: " + err)
            return self.oauth_error(400, "invalid_grant", err)
        import secrets
        with self.st.lock:
            self.st.federated = "sts-" + secrets.token_urlsafe(16)
            expires_in = self.st.args.expires_in
        self.reply(200, json.dumps({
            "access_token": self.st.federated,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": expires_in,
        }))

    def impersonate(self, body):
        with self.st.lock:
            self.st.count += 1
            federated = self.st.federated
        if self.mode_gate():
            return
        err = None
        if not federated or self.headers.get("Authorization") != "Bearer " + federated:
            err = "not the federated token"
        else:
            try:
                req = json.loads(body)
            except ValueError:
                req = {}
            if req.get("scope") != [SCOPE]:
                err = "wrong scope"
        with self.st.lock:
            self.st.last_error = err or ""
        if err:
            log("impersonation refused: " + err)
            return self.reply(403, json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED"}}))
        at = time.gmtime(time.time() + self.st.args.expires_in)
        self.reply(200, json.dumps({
            "accessToken": self.st.args.token,
            "expireTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", at),
        }))

    def verify_refresh(self, form):
        """The refresh-token grant: every field present once and equal to user.json's."""
        if sorted(form) != ["client_id", "client_secret", "grant_type", "refresh_token"]:
            return "refresh form fields are %r" % sorted(form)
        for field in ("client_id", "client_secret", "refresh_token"):
            if form[field] != [self.st.user[field]]:
                return "wrong " + field
        return None

    def verify(self, body):
        """None when the request carries a valid assertion, else the reason."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            return "content type is not a form: %r" % ctype
        try:
            form = urllib.parse.parse_qs(body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return "malformed form body"
        if form.get("grant_type") == ["refresh_token"]:
            return self.verify_refresh(form)
        if sorted(form) != ["assertion", "grant_type"]:
            return "form fields are %r" % sorted(form)
        if form["grant_type"] != [GRANT]:
            return "wrong grant_type"
        jwt = form["assertion"][0]
        parts = jwt.split(".")
        if len(parts) != 3:
            return "assertion has %d segments" % len(parts)
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except ValueError as e:
            return "assertion segment does not decode: %s" % e
        a = self.st.args
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            return "header is %r" % header
        if header.get("kid") != a.key_id:
            return "kid is %r" % header.get("kid")
        try:
            self.st.public_key.verify(
                sig, (parts[0] + "." + parts[1]).encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        if claims.get("iss") != a.client_email:
            return "iss is %r" % claims.get("iss")
        if claims.get("scope") != SCOPE:
            return "scope is %r" % claims.get("scope")
        if claims.get("aud") != self.st.url:
            return "aud is %r, expected %r" % (claims.get("aud"), self.st.url)
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return "iat/exp are not integers"
        now = int(time.time())
        if iat > now + 5:
            return "iat is in the future"
        if iat < now - 600:
            return "iat is too old"
        if not 0 < exp - iat <= 3600:
            return "exp - iat is %d" % (exp - iat)
        if exp <= now:
            return "assertion expired"
        return None


def watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    log("stdin closed; exiting")
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="ya29.test-access-token")
    ap.add_argument("--expires-in", type=int, default=3599)
    ap.add_argument("--client-email", default="beta9-test@beta9-test.iam.gserviceaccount.com")
    ap.add_argument("--key-id", default="0123456789abcdef0123456789abcdef01234567")
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    ap.add_argument("--ignore-stdin", action="store_true")
    args = ap.parse_args()

    if not args.ignore_stdin:
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    def on_signal(signum, _frame):
        log(f"signal {signum}; exiting")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError as e:
        log(f"the cryptography package is not importable: {e} (pip install cryptography)")
        sys.exit(3)

    def pem(key, fmt):
        return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

    known = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    d = args.state_dir
    write_private(os.path.join(d, "key-pkcs8.pem"), pem(known, serialization.PrivateFormat.PKCS8))
    write_private(os.path.join(d, "key-pkcs1.pem"), pem(known, serialization.PrivateFormat.TraditionalOpenSSL))
    write_private(os.path.join(d, "unknown-pkcs8.pem"), pem(unknown, serialization.PrivateFormat.PKCS8))

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    server.state = State(args, known.public_key())
    server.state.url = f"http://127.0.0.1:{port}/token"

    import secrets
    server.state.user = {
        "account": "",
        "client_id": "beta9-test-client.apps.googleusercontent.com",
        "client_secret": "GOCSPX-" + secrets.token_urlsafe(18),
        "quota_project_id": "beta9-test",
        "refresh_token": "1//0g" + secrets.token_urlsafe(24) + "/+=",
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
        "token_uri": server.state.url,
    }
    write_private(os.path.join(d, "user.json"), json.dumps(server.state.user).encode())
    server.state.subject = "eyJ.subject-" + secrets.token_urlsafe(24) + "/+="
    write_private(os.path.join(d, "subject-token"), server.state.subject.encode())

    tmp = os.path.join(d, "port.tmp")
    write_private(tmp, str(port).encode())
    os.replace(tmp, os.path.join(d, "port"))
    log(f"listening on 127.0.0.1:{port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
