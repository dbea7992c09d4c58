#!/usr/bin/env python3
"""Check an itpm audit export offline, with Python's standard library alone.

    python3 verify_audit.py audit.jsonl --checkpoints checkpoints.jsonl --public-key audit-key.pem.pub

Walks the entries in order: each entry's hash must be SHA-256 over the hash of
the entry before it, a newline and the JSON array of its seq, id, at, actor,
action, target, address, request and detail (the detail is the text of a JSON
object, as the database held it: json.loads it to read it); each checkpoint must be
signed (Ed25519, RFC 8032) by the public key and name a hash the chain reaches.
Exits 0 when everything matches, 1 naming the first entry or checkpoint that
does not. The signature check is a small implementation of RFC 8032's
verification (after its reference code): slow, but only checkpoints need it.
"""

import argparse
import base64
import hashlib
import json
import sys

GENESIS = "0" * 64

# --- Ed25519 verification (RFC 8032, section 5.1.7) --------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    a_ = (y1 - x1) * (y2 - x2) % P
    b_ = (y1 + x1) * (y2 + x2) % P
    c_ = 2 * t1 * t2 * D % P
    d_ = 2 * z1 * z2 % P
    e, f, g, h = b_ - a_, d_ - c_, d_ + c_, b_ + a_
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(s, point):
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_G_Y = 4 * pow(5, P - 2, P) % P
_G = (_recover_x(_G_Y, 0), _G_Y, 1, _recover_x(_G_Y, 0) * _G_Y % P)


def ed25519_verify(public, message, signature):
    """True when `signature` (64 bytes) over `message` is by `public` (32 bytes)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_multiply(s, _G), _add(r, _multiply(h, a)))


def public_key_bytes(text):
    """The 32 key bytes of a PEM public key (SubjectPublicKeyInfo: they end its DER) or of 64 hex digits."""
    text = text.strip()
    if "BEGIN PUBLIC KEY" in text:
        body = "".join(line for line in text.splitlines() if "-----" not in line)
        return base64.b64decode(body)[-32:]
    return bytes.fromhex(text)


# --- the chain -----------------------------------------------------------------

CONTENT = ("seq", "id", "at", "actor", "action", "target", "address", "request", "detail")


def entry_hash(prev_hash, entry):
    """SHA-256 over the previous hash, a newline and the entry's content as a compact JSON array."""
    values = [entry[name] for name in CONTENT]
    canonical = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical.encode()).hexdigest()


def checkpoint_message(point):
    return f"itpm audit checkpoint\nseq={point['seq']}\nhash={point['hash']}\nat={point['at']}\n".encode()


def verify(entries, checkpoints, public):
    """The first problem found (a sentence), or None; and how many entries were checked."""
    hashes = {}
    prev = None
    expected = None
    checked = 0
    for number, entry in enumerate(entries, 1):
        seq = entry["seq"]
        name = f"entry #{entry['id']} (seq {seq}, line {number})"
        if expected is not None and seq != expected:
            return f"{name}: the entries of seq {expected} to {seq - 1} are missing (removed)", checked
        if prev is None:
            prev = GENESIS if seq == 1 else entry["prev_hash"]
        if entry["prev_hash"] != prev:
            return f"{name}: its previous hash is not the hash of the entry before it", checked
        digest = entry_hash(prev, entry)
        if digest != entry["hash"]:
            return f"{name}: its content does not match its hash (changed or inserted)", checked
        hashes[seq] = digest
        prev, expected = digest, seq + 1
        checked += 1
    for point in checkpoints:
        name = f"checkpoint of {point['at']} (seq {point['seq']})"
        if public is not None and not ed25519_verify(
            public, checkpoint_message(point), bytes.fromhex(point["signature"])
        ):
            return f"{name}: its signature does not match the public key", checked
        if point["seq"] in hashes and hashes[point["seq"]] != point["hash"]:
            return f"{name}: the chain there is not the one signed (rewritten)", checked
        if expected is not None and point["seq"] >= expected:
            return f"{name}: the entries up to seq {point['seq']} are not all in the file (removed)", checked
    return None, checked


def _lines(path):
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check an itpm audit export offline.")
    parser.add_argument("entries", help="audit.jsonl")
    parser.add_argument("--checkpoints", help="checkpoints.jsonl")
    parser.add_argument("--public-key", help="the installation's public key (PEM, or 64 hex digits)")
    args = parser.parse_args(argv)
    public = None
    if args.public_key:
        with open(args.public_key, encoding="ascii") as stream:
            public = public_key_bytes(stream.read())
    checkpoints = _lines(args.checkpoints) if args.checkpoints else []
    if checkpoints and public is None:
        parser.error("checkpoints are checked against a public key: give --public-key")
    problem, checked = verify(_lines(args.entries), checkpoints, public)
    if problem:
        print(f"NOT VERIFIED: {problem}")
        return 1
    print(f"verified: {checked} entries, {len(checkpoints)} signed checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
