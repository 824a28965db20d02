#!/usr/bin/env python3
"""Docker Hub's pull-rate-limit edge, in front of a real registry, for the doctor tests.

Docker Hub cannot run here; what doctor has to read from it is small and documented
(docs.docker.com, "Docker Hub pull usage and limits"): every manifest response carries
`ratelimit-limit: <n>;w=<seconds>` and `ratelimit-remaining: <n>;w=<seconds>`, a HEAD does not
count against the allowance, a GET does, and once it is used up a manifest request is answered
429 with `{"errors":[{"code":"TOOMANYREQUESTS",...}]}`. This reverse proxy adds exactly that to
a real `docker-registry` behind it (authentication, manifests and digests stay the registry's).

With `--throttle` every manifest request, HEAD included, is answered 429 (a registry throttling
this client outright, as GHCR or Quay do under load).

CLI: python3 ratelimit_front.py --state-dir DIR --upstream PORT --limit N --remaining N [--throttle]
Writes `port` into DIR (tmp + rename) once listening on 127.0.0.1. Exits on EOF on stdin and on
SIGTERM. Logs to stderr only.
"""

import argparse
import http.client
import json
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
WINDOW = 21600
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}
STATE = {"limit": 0, "remaining": 0, "upstream": 0, "throttle": False, "lock": threading.Lock()}


def log(msg):
    sys.stderr.write(f"ratelimit_front: {msg}\n")
    sys.stderr.flush()


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # noqa: N802 (stdlib name)
        log(fmt % a)

    def limit_headers(self, remaining):
        self.send_header("ratelimit-limit", f"{STATE['limit']};w={WINDOW}")
        self.send_header("ratelimit-remaining", f"{remaining};w={WINDOW}")

    def relay(self):
        manifest = bool(MANIFEST.match(self.path.split("?", 1)[0]))
        with STATE["lock"]:
            remaining = STATE["remaining"]
            if manifest and self.command == "GET" and remaining > 0:
                STATE["remaining"] -= 1
        refused = remaining == 0 and self.command == "GET"
        if manifest and (refused or STATE["throttle"]):
            body = json.dumps({"errors": [{
                "code": "TOOMANYREQUESTS",
                "message": "You have reached your pull rate limit.",
            }]}).encode()
            self.send_response(429)
            self.limit_headers(remaining)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        up = http.client.HTTPConnection("127.0.0.1", STATE["upstream"], timeout=30)
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if manifest:
            self.limit_headers(STATE["remaining"])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = relay  # noqa: N815
    do_HEAD = relay  # noqa: N815
    do_POST = relay  # noqa: N815
    do_PUT = relay  # noqa: N815
    do_PATCH = relay  # noqa: N815


def watch_stdin():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--remaining", type=int, required=True)
    ap.add_argument("--throttle", action="store_true")
    args = ap.parse_args()
    STATE.update(limit=args.limit, remaining=args.remaining, upstream=args.upstream,
                 throttle=args.throttle)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=watch_stdin, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    server.daemon_threads = True
    port = server.server_address[1]
    tmp = os.path.join(args.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, os.path.join(args.state_dir, "port"))
    log(f"listening on 127.0.0.1:{port}, upstream {args.upstream}")
    server.serve_forever()


if __name__ == "__main__":
    main()
