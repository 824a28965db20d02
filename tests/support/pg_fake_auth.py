#!/usr/bin/env python3
"""A fake PostgreSQL server on loopback that asks every client for a password in a weak form.

Nothing real can do this on demand: a real server asks for a cleartext password or an MD5 hash
only when its pg_hba.conf says so, and what is under test is what the client does when an
attacker in the middle answers in the real server's place. So this plays that attacker:

  * an SSLRequest is answered `N` (no TLS, the downgrade), or `S` and a TLS handshake with
    `--cert`/`--key` (an unverified server's certificate);
  * after the startup message it sends AuthenticationCleartextPassword (`--ask cleartext`),
    AuthenticationMD5Password (`--ask md5`) or AuthenticationSASL offering only SCRAM-SHA-256
    (`--ask scram`), then waits up to 5 s for the client's answer.

Every event is appended to DIR/events, one per line: `asked <kind>`, then `password` when a
PasswordMessage (or SASLInitialResponse) arrived, or `closed` when the client hung up without
one. The message's content is never written anywhere.

Writes `port` into DIR (tmp + rename) once listening on 127.0.0.1 (the OS picks the port).
Exits on EOF on stdin and on SIGTERM. Logs to stderr only.
"""

import argparse
import os
import signal
import socket
import ssl
import struct
import sys
import threading

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
LOCK = threading.Lock()


def log(msg):
    print(f"pg_fake_auth: {msg}", file=sys.stderr, flush=True)


def event(dir_, line):
    with LOCK, open(os.path.join(dir_, "events"), "a") as f:
        f.write(line + "\n")


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(conn, args):
    conn.settimeout(5)
    try:
        first = read_exact(conn, 8)
        if first == SSL_REQUEST:
            if args.cert:
                conn.sendall(b"S")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.cert, args.key)
                conn = ctx.wrap_socket(conn, server_side=True)
            else:
                conn.sendall(b"N")
            head = read_exact(conn, 4)
            (length,) = struct.unpack("!i", head)
            read_exact(conn, length - 4)
        else:
            (length,) = struct.unpack("!i", first[:4])
            read_exact(conn, length - 8)
        # Recorded before the request goes out: a client that refuses may exit (and the test read
        # the events) before this thread runs again.
        event(args.state_dir, f"asked {args.ask}")
        if args.ask == "cleartext":
            conn.sendall(b"R" + struct.pack("!ii", 8, 3))
        elif args.ask == "md5":
            conn.sendall(b"R" + struct.pack("!ii", 12, 5) + b"salt")
        else:
            body = struct.pack("!i", 10) + b"SCRAM-SHA-256\0\0"
            conn.sendall(b"R" + struct.pack("!i", 4 + len(body)) + body)
        try:
            kind = read_exact(conn, 1)
        except (EOFError, OSError):
            event(args.state_dir, "closed")
            return
        if kind == b"p":
            event(args.state_dir, "password")
        else:
            event(args.state_dir, "other")
        err = b"SFATAL\0C28P01\0Mfake server\0\0"
        conn.sendall(b"E" + struct.pack("!i", 4 + len(err)) + err)
    except (EOFError, OSError, ssl.SSLError) as e:
        log(f"connection ended: {e!r}")
    finally:
        try:
            conn.close()
        except OSError:
            pass


def watch_stdin():
    try:
        while sys.stdin.buffer.read(1):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ask", choices=["cleartext", "md5", "scram"], required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=watch_stdin, daemon=True).start()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    tmp = os.path.join(args.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, os.path.join(args.state_dir, "port"))
    log(f"listening on 127.0.0.1:{port}")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
