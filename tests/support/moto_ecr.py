#!/usr/bin/env python3
"""ECR emulator for docker-credential-beta9 integration tests.

Runs moto's own server app (moto.server.DomainDispatcherApplication +
create_backend_app, the same WSGI app that `moto_server` and
ThreadedMotoServer serve) in-process on a threaded werkzeug server, wrapped by
a small WSGI middleware that adds what the tests need:

* counts GetAuthorizationToken calls (any X-Amz-Target ending in
  ".GetAuthorizationToken", ECR and ECR Public alike), whatever the mode;
* rewrites every `expiresAt` in a successful reply to now + EXPIRES_IN
  (moto answers a fixed date in 2015);
* records the access key id of the last call's SigV4 Authorization header
  (the `Credential=AKID/...` part only, never anything else);
* failure modes for subsequent GetAuthorizationToken calls;
* answers ECR Public (`SpencerFrontendService.GetAuthorizationToken`) itself,
  because moto 5.x has no ecr-public backend (it answers 500 there);
* lets unsigned ECR calls through (moto routes by the SigV4 credential scope
  and would send a request without Authorization to S3).

Control endpoints, same port, not AWS paths:
  GET  /__count         -> plain-text count of GetAuthorizationToken calls
  POST /__reset         -> count = 0, last akid/target cleared (mode kept)
  POST /__mode/<mode>   -> normal | deny | accessdenied | throttle | fail500 | hang
  GET  /__mode          -> current mode
  GET  /__last_akid     -> access key id of the last call ("" if none)
  GET  /__last_target   -> X-Amz-Target of the last call ("" if none)
  POST /__expires_in/<seconds> -> lifetime of the tokens handed out from now on
  GET  /__health        -> "ok"

Modes (they only affect GetAuthorizationToken calls):
  normal        moto's answer, expiresAt rewritten
  deny          400 UnrecognizedClientException
  accessdenied  400 AccessDeniedException
  throttle      400 ThrottlingException
  fail500       500 InternalFailure (a server-side error, retryable)
  hang          sleep HANG_SECONDS (default 30), then answer as `normal`

CLI:
  python3 moto_ecr.py --port 0 --port-file PATH [--expires-in SECONDS]
      [--expires-style float|int|sci] [--hang-seconds S] [--parent-pid PID]
      [--ignore-stdin] [--quiet]
Binds 127.0.0.1 only. Port 0 picks a free port. The real port is written to
PATH (tmp file + rename) once the socket listens and moto is warmed up.
Exits on EOF on stdin (unless --ignore-stdin), on SIGTERM/SIGINT, and when
--parent-pid disappears. Logs to stderr only. Exit code 3: moto missing.
"""

import argparse
import base64
import json
import logging
import os
import signal
import sys
import threading
import time

# Everything this process prints goes to stderr (moto print()s some warnings).
sys.stdout = sys.stderr

ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
PUBLIC_TARGET_PREFIX = "SpencerFrontendService."
AUTH_SUFFIX = ".GetAuthorizationToken"
JSON_CT = "application/x-amz-json-1.1"
MODES = ("normal", "deny", "accessdenied", "throttle", "fail500", "hang")


def log(msg):
    sys.stderr.write(f"moto_ecr: {msg}\n")
    sys.stderr.flush()


def parse_akid(auth):
    """'AWS4-HMAC-SHA256 Credential=AKID/date/region/svc/aws4_request, ...' -> AKID."""
    if not auth:
        return ""
    idx = auth.find("Credential=")
    if idx < 0:
        return ""
    cred = auth[idx + len("Credential="):]
    return cred.split("/", 1)[0].split(",", 1)[0].strip()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.mode = "normal"
        self.last_akid = ""
        self.last_target = ""


class EcrMiddleware:
    def __init__(self, app, expires_in, expires_style, hang_seconds, region):
        self.app = app
        self.expires_in = expires_in
        self.expires_style = expires_style
        self.hang_seconds = hang_seconds
        self.region = region
        self.state = State()

    # ---- helpers -------------------------------------------------------
    @staticmethod
    def _reply(start_response, status, body, ctype="text/plain; charset=utf-8", extra=()):
        data = body.encode() if isinstance(body, str) else body
        headers = [("Content-Type", ctype), ("Content-Length", str(len(data)))]
        headers.extend(extra)
        start_response(status, headers)
        return [data]

    def _aws_error(self, start_response, status, code, message, msg_key="message"):
        body = json.dumps({"__type": code, msg_key: message})
        return self._reply(
            start_response,
            status,
            body,
            JSON_CT,
            [("x-amzn-ErrorType", code), ("x-amzn-RequestId", "moto-ecr-%d" % time.time_ns())],
        )

    def _expires(self):
        with self.state.lock:
            t = time.time() + self.expires_in
        if self.expires_style == "int":
            return int(t)
        if self.expires_style == "sci":
            # What AWS's Java front ends send, e.g. 1.714633452489E9.
            mantissa, exp = ("%.12E" % t).split("E")
            return _Raw("%sE%d" % (mantissa.rstrip("0").rstrip("."), int(exp)))
        return round(t, 3)

    # ---- control endpoints ----------------------------------------------
    def _control(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        st = self.state
        if path == "/__count" and method == "GET":
            with st.lock:
                return self._reply(start_response, "200 OK", str(st.count))
        if path == "/__reset" and method == "POST":
            with st.lock:
                st.count = 0
                st.last_akid = ""
                st.last_target = ""
            return self._reply(start_response, "200 OK", "ok")
        if path == "/__mode" and method == "GET":
            with st.lock:
                return self._reply(start_response, "200 OK", st.mode)
        if path.startswith("/__mode/") and method == "POST":
            mode = path[len("/__mode/"):]
            if mode not in MODES:
                return self._reply(start_response, "400 Bad Request", "unknown mode %r; one of %s" % (mode, ", ".join(MODES)))
            with st.lock:
                st.mode = mode
            log(f"mode -> {mode}")
            return self._reply(start_response, "200 OK", mode)
        if path == "/__last_akid" and method == "GET":
            with st.lock:
                return self._reply(start_response, "200 OK", st.last_akid)
        if path == "/__last_target" and method == "GET":
            with st.lock:
                return self._reply(start_response, "200 OK", st.last_target)
        if path.startswith("/__expires_in/") and method == "POST":
            try:
                secs = float(path[len("/__expires_in/"):])
            except ValueError:
                return self._reply(start_response, "400 Bad Request", "not a number of seconds")
            with st.lock:
                self.expires_in = secs
            log(f"expires_in -> {secs}")
            return self._reply(start_response, "200 OK", str(secs))
        if path == "/__health" and method == "GET":
            return self._reply(start_response, "200 OK", "ok")
        return self._reply(start_response, "404 Not Found", "unknown control endpoint %s %s" % (method, path))

    # ---- WSGI entry ------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__"):
            return self._control(environ, start_response)

        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.endswith(AUTH_SUFFIX):
            return self.app(environ, start_response)

        st = self.state
        with st.lock:
            st.count += 1
            st.last_akid = parse_akid(environ.get("HTTP_AUTHORIZATION", ""))
            st.last_target = target
            mode = st.mode

        if mode == "deny":
            return self._aws_error(start_response, "400 Bad Request", "UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        if mode == "accessdenied":
            # Real ECR spells this key "Message" for AccessDeniedException.
            return self._aws_error(start_response, "400 Bad Request", "AccessDeniedException",
                                   "User: arn:aws:iam::123456789012:user/test is not authorized to perform: "
                                   "ecr:GetAuthorizationToken on resource: * because no identity-based "
                                   "policy allows the ecr:GetAuthorizationToken action", msg_key="Message")
        if mode == "throttle":
            return self._aws_error(start_response, "400 Bad Request", "ThrottlingException", "Rate exceeded")
        if mode == "fail500":
            return self._aws_error(start_response, "500 Internal Server Error", "InternalFailure",
                                   "We encountered an internal error. Please try again.")
        if mode == "hang":
            time.sleep(self.hang_seconds)

        if target.startswith(PUBLIC_TARGET_PREFIX):
            return self._public_token(start_response)

        if "json" not in environ.get("CONTENT_TYPE", ""):
            log("warning: GetAuthorizationToken without Content-Type: application/x-amz-json-1.1 "
                f"(got {environ.get('CONTENT_TYPE', '')!r}); moto will answer 500")
        if not environ.get("HTTP_AUTHORIZATION") and target.startswith(ECR_TARGET_PREFIX):
            # moto picks the backend from the SigV4 credential scope; give it one.
            environ["HTTP_AUTHORIZATION"] = (
                "AWS4-HMAC-SHA256 Credential=unsigned/20150101/%s/ecr/aws4_request, "
                "SignedHeaders=host, Signature=0" % self.region)
        return self._rewrite(environ, start_response)

    def _public_token(self, start_response):
        # moto 5.x has no ecr-public backend; shape of the real ECR Public reply:
        # authorizationData is ONE object (not a list) and has no proxyEndpoint.
        token = base64.b64encode(b"AWS:ecr-public-auth-token").decode()
        body = _dumps({"authorizationData": {"authorizationToken": token, "expiresAt": self._expires()}})
        return self._reply(start_response, "200 OK", body, JSON_CT,
                           [("x-amzn-RequestId", "moto-ecr-%d" % time.time_ns())])

    def _rewrite(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda _data: None  # write() callable; moto/flask does not use it

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        status = captured.get("status", "500 Internal Server Error")
        headers = [(k, v) for (k, v) in captured.get("headers", []) if k.lower() != "content-length"]
        if status.startswith("200"):
            try:
                doc = json.loads(body)
                data = doc.get("authorizationData")
                items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
                for item in items:
                    if isinstance(item, dict) and "expiresAt" in item:
                        item["expiresAt"] = self._expires()
                body = _dumps(doc).encode()
            except ValueError as e:
                log(f"could not rewrite reply ({e}); passing it through")
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]


class _Raw:
    """A number that _dumps writes verbatim (for the 1.7E9 style)."""

    def __init__(self, text):
        self.text = text


def _dumps(doc):
    raws = []

    def fix(o):
        if isinstance(o, _Raw):
            raws.append(o.text)
            return "\u0000raw%d\u0000" % (len(raws) - 1)
        if isinstance(o, dict):
            return {k: fix(v) for k, v in o.items()}
        if isinstance(o, list):
            return [fix(v) for v in o]
        return o

    out = json.dumps(fix(doc))
    for i, text in enumerate(raws):
        out = out.replace(json.dumps("\u0000raw%d\u0000" % i), text)
    return out


def watch_stdin():
    try:
        while True:
            chunk = os.read(0, 4096)
            if not chunk:
                break
    except OSError:
        pass
    log("stdin closed; exiting")
    os._exit(0)


def watch_parent(pid):
    direct_parent = os.getppid() == pid
    while True:
        time.sleep(0.5)
        gone = False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone = True
        except PermissionError:
            pass
        if direct_parent and os.getppid() != pid:
            gone = True
        if gone:
            log(f"parent {pid} is gone; exiting")
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", default=None)
    ap.add_argument("--expires-in", type=float, default=float(os.environ.get("EXPIRES_IN", "43200")))
    ap.add_argument("--expires-style", choices=("float", "int", "sci"),
                    default=os.environ.get("EXPIRES_STYLE", "float"))
    ap.add_argument("--hang-seconds", type=float, default=float(os.environ.get("HANG_SECONDS", "30")))
    ap.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"),
                    help="region used for unsigned ECR calls")
    ap.add_argument("--parent-pid", type=int, default=None)
    ap.add_argument("--ignore-stdin", action="store_true", help="do not exit on EOF on stdin")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args()

    if not args.ignore_stdin:
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), name="parent-watch", daemon=True).start()

    def on_signal(signum, _frame):
        log(f"signal {signum}; exiting")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t0 = time.time()
    try:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as e:
        log(f"moto[server] is not importable: {e} (pip install 'moto[server]==5.*')")
        sys.exit(3)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = DomainDispatcherApplication(create_backend_app)
    mw = EcrMiddleware(app, args.expires_in, args.expires_style, args.hang_seconds, args.region)
    server = make_server("127.0.0.1", args.port, mw, threaded=True)
    port = server.server_address[1]

    # Warm up: build moto's ECR backend now, so the first test call is not slow.
    # Goes straight to moto's app, so it is not counted.
    from werkzeug.test import Client
    Client(app).post("/", headers={
        "X-Amz-Target": ECR_TARGET_PREFIX + "GetAuthorizationToken",
        "Content-Type": JSON_CT,
        "Authorization": "AWS4-HMAC-SHA256 Credential=warmup/20150101/%s/ecr/aws4_request, "
                         "SignedHeaders=host, Signature=0" % args.region,
    }, data="{}")

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    import moto
    log(f"moto {moto.__version__} listening on 127.0.0.1:{port} (ready in {time.time() - t0:.2f}s)")
    server.serve_forever()


if __name__ == "__main__":
    main()
