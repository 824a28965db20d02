"""docker-py (PyPI `docker`) against docker-credential-beta9, through its own credential-store
client: `docker.credentials.Store('beta9')` runs `docker-credential-beta9` from PATH, exactly as
docker-py does when a config.json names the helper.

Reads the secret on stdin (never argv), prints one JSON object describing what each call returned,
so the Rust test asserts on what Python saw. Exit 0 unless the script itself breaks.
"""

import json
import sys
import warnings

import docker
from docker.credentials import Store
from docker.credentials.errors import CredentialsNotFound, StoreError

SERVERS = [
    # (server URL as docker-py passes it, username)
    ("registry.example.com:5000", "alice"),
    ("https://index.docker.io/v1/", "hubuser"),
    ("ghcr.io", "<token>"),  # an identity token, docker's `<token>` username
]
MISSING = "missing.example.com"


def attempt(fn):
    """Runs fn; returns {"ok": result} or {"error": class name, "message": str}."""
    try:
        result = fn()
    except (CredentialsNotFound, StoreError) as e:  # CredentialsNotFound is a StoreError
        return {"error": type(e).__name__, "message": str(e)}
    if isinstance(result, bytes):  # store() returns the helper's (empty) stdout
        result = result.decode("utf-8", "replace")
    return {"ok": result}


def main():
    secret = sys.stdin.read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = Store("beta9")
    report = {
        "docker_py": docker.__version__,
        "exe": store.exe,
        "warnings": [str(w.message) for w in caught],
    }
    report["stored"] = {s: attempt(lambda s=s, u=u: store.store(s, u, secret)) for s, u in SERVERS}
    report["got"] = {s: attempt(lambda s=s: store.get(s)) for s, _ in SERVERS}
    report["listed"] = attempt(store.list)
    report["missing"] = attempt(lambda: store.get(MISSING))
    report["erase_missing"] = attempt(lambda: store.erase(MISSING))
    report["erased"] = {s: attempt(lambda s=s: store.erase(s)) for s, _ in SERVERS}
    report["after_erase"] = {s: attempt(lambda s=s: store.get(s)) for s, _ in SERVERS}
    report["listed_after_erase"] = attempt(store.list)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
