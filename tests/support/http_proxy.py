#!/usr/bin/env python3
"""A small forward HTTP proxy for docker-credential-beta9's proxy tests.

It is a real proxy, not a stub of the helper's peers: it speaks both forms clients use,
  * CONNECT host:port (a tunnel; ureq uses it for every destination, hyper for https ones), and
  * absolute-form requests such as `POST http://host:port/path HTTP/1.1` (hyper for http ones),
and relays bytes to the destination and back.

What makes it useful to a test: destinations are names under `.proxytest.invalid`, which no
resolver answers (RFC 6761), and the proxy connects them to 127.0.0.1 on the same port. So a
request only reaches its server if it went through this proxy. Any other destination is refused
with 502 (it never connects anywhere but loopback).

With BETA9_TEST_PROXY_AUTH=USER:PASSWORD in its environment every request must carry `Proxy-Authorization: Basic ...` for that
pair, else 407. Each request is appended to `requests.log` in the state dir as one line:
`CONNECT host:port auth=ok|missing|wrong` or `FORWARD METHOD host:port auth=...` (never the
credential itself).

With `--tls-front PORT --cert CRT --key KEY` it also listens on a second loopback port that
terminates TLS with that certificate and relays the plaintext to 127.0.0.1:PORT (an https
front for a plain-http test server such as moto); that port is written to `tls-port` first.
`--tls-front 0` fronts this proxy itself: an https:// proxy (TLS to the proxy).

CLI: python3 http_proxy.py --state-dir DIR [--tls-front PORT --cert CRT --key KEY]
Writes `port` into DIR (tmp + rename) once listening on 127.0.0.1 (the OS picks the port).
Exits on EOF on stdin and on SIGTERM/SIGINT. Logs to stderr only.
"""

import argparse
import base64
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading

SUFFIX = ".proxytest.invalid"
STATE = {"dir": None, "auth": None, "lock": threading.Lock()}


def log(msg):
    sys.stderr.write(f"http_proxy: {msg}\n")
    sys.stderr.flush()


def record(line):
    with STATE["lock"]:
        with open(os.path.join(STATE["dir"], "requests.log"), "a") as f:
            f.write(line + "\n")


def destination(authority):
    """(host, port) of `authority`, mapped to loopback, or None when it is not a test name."""
    host, _, port = authority.rpartition(":")
    if not host or not port.isdigit():
        return None
    host = host.lower()
    if not host.endswith(SUFFIX):
        return None
    return host, int(port)


def auth_state(headers):
    want = STATE["auth"]
    got = headers.get("proxy-authorization")
    if want is None:
        return "none" if got is None else "unexpected"
    if got is None:
        return "missing"
    expected = "Basic " + base64.b64encode(want.encode()).decode()
    return "ok" if got.strip() == expected else "wrong"


def relay(a, b):
    """Bytes both ways until either side closes. A TLS socket may hold decrypted bytes that
    select() cannot see, so those are read first."""
    socks = [a, b]
    while True:
        ready = [x for x in socks if getattr(x, "pending", lambda: 0)()]
        if not ready:
            ready, _, _ = select.select(socks, [], [], 30)
        if not ready:
            return
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            (b if s is a else a).sendall(data)


class Handler(socketserver.StreamRequestHandler):
    # Unbuffered: every byte after the head is relayed, none is left in a reader's buffer.
    rbufsize = 0

    def reply(self, status, reason, extra=""):
        body = f"{status} {reason}\n".encode()
        self.wfile.write(
            f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        self.wfile.flush()

    def handle(self):
        line = self.rfile.readline(65537).decode("latin-1")
        if not line:
            return
        parts = line.split()
        if len(parts) != 3:
            self.reply(400, "Bad Request")
            return
        method, target, _version = parts
        raw_headers = []
        headers = {}
        while True:
            h = self.rfile.readline(65537).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            raw_headers.append(h)
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        auth = auth_state(headers)
        if method == "CONNECT":
            authority = target
        elif target.startswith("http://"):
            authority = target[len("http://"):].split("/", 1)[0]
        else:
            self.reply(400, "Bad Request")
            return
        kind = "CONNECT" if method == "CONNECT" else f"FORWARD {method}"
        record(f"{kind} {authority} auth={auth}")
        if STATE["auth"] is not None and auth != "ok":
            self.reply(407, "Proxy Authentication Required",
                       'Proxy-Authenticate: Basic realm="beta9-test-proxy"\r\n')
            return
        dest = destination(authority)
        if dest is None:
            self.reply(502, "Bad Gateway")
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", dest[1]), timeout=10)
        except OSError:
            self.reply(502, "Bad Gateway")
            return
        with upstream:
            upstream.settimeout(None)
            if method == "CONNECT":
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
            else:
                path = target[len("http://") + len(authority):] or "/"
                head = f"{method} {path} HTTP/1.1\r\n"
                for h in raw_headers:
                    name = h.partition(":")[0].strip().lower()
                    if name in ("proxy-authorization", "proxy-connection", "connection"):
                        continue
                    head += h if h.endswith("\r\n") else h.rstrip("\n") + "\r\n"
                head += "Connection: close\r\n\r\n"
                upstream.sendall(head.encode("latin-1"))
            relay(self.connection, upstream)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class TlsFront(socketserver.BaseRequestHandler):
    context = None
    backend = None

    def handle(self):
        try:
            tls = self.context.wrap_socket(self.request, server_side=True)
        except OSError as e:
            log(f"tls front: handshake failed: {e}")
            return
        with tls, socket.create_connection(("127.0.0.1", self.backend), timeout=10) as up:
            up.settimeout(None)
            relay(tls, up)


def watch_stdin():
    try:
        while sys.stdin.buffer.read(1):
            pass
    except OSError:
        pass
    log("stdin closed; exiting")
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--tls-front", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    STATE["dir"] = args.state_dir
    STATE["auth"] = os.environ.get("BETA9_TEST_PROXY_AUTH") or None
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=watch_stdin, daemon=True).start()
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    if args.tls_front is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        TlsFront.context = ctx
        TlsFront.backend = args.tls_front or port
        front = Server(("127.0.0.1", 0), TlsFront)
        threading.Thread(target=front.serve_forever, daemon=True).start()
        tmp = os.path.join(args.state_dir, "tls-port.tmp")
        with open(tmp, "w") as f:
            f.write(str(front.server_address[1]))
        os.replace(tmp, os.path.join(args.state_dir, "tls-port"))
    tmp = os.path.join(args.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, os.path.join(args.state_dir, "port"))
    log(f"listening on 127.0.0.1:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
