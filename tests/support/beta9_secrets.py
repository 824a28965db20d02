#!/usr/bin/env python3
"""Seals workspace secrets the way the beta9 platform does, independently of the helper's code
(docs/records.md, "The platform's workspace secrets"): AES-256-GCM, key = standard base64
decoding of the workspace's signing_key after its "sk_" prefix, stored value = standard base64 of
nonce(12) || ciphertext || tag(16), no associated data.

Reads JSON on stdin: {"signing_key": "sk_...", "secrets": {"name": "plaintext", ...}}
Writes JSON on stdout: {"name": "value", ...}. With "signing_key": null a fresh key is made and
returned as "__signing_key".
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main():
    req = json.load(sys.stdin)
    sk = req.get("signing_key")
    out = {}
    if sk is None:
        sk = "sk_" + base64.b64encode(os.urandom(32)).decode()
        out["__signing_key"] = sk
    key = base64.b64decode(sk[3:])
    aes = AESGCM(key)
    for name, plain in req["secrets"].items():
        nonce = os.urandom(12)
        sealed = aes.encrypt(nonce, plain.encode(), None)
        value = base64.b64encode(nonce + sealed).decode()
        # Check the round trip here too, so a fixture bug is not mistaken for a helper bug.
        raw = base64.b64decode(value)
        assert aes.decrypt(raw[:12], raw[12:], None) == plain.encode()
        out[name] = value
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
