"""A Web Push receiver (push service and browser) on 127.0.0.1 for Folio's black-box tests.

    python push_receiver.py --out DIR [--subscriptions N] [--fail-first K]

Makes N browser subscriptions (a fresh P-256 key pair and 16-byte auth secret
each), binds an ephemeral port and prints one JSON line on stdout:
    {"port": P,
     "subscriptions": [{"endpoint": "http://127.0.0.1:P/push/0",
                        "keys": {"p256dh": "...", "auth": "..."}}, ...],
     "gone": {"endpoint": "http://127.0.0.1:P/gone/0", "keys": {...}}}
The "gone" endpoint always answers 410 Gone, like an expired subscription.

A POST to /push/i is checked as a push service would (RFC 8030, RFC 8292):
Content-Encoding aes128gcm, a TTL, a valid Urgency and Topic if present, a
body of at most 4096 bytes, and `Authorization: vapid t=JWT, k=KEY` whose
ES256 JWT verifies with k and has aud = http://127.0.0.1:P, an exp in the
future and at most 24 h ahead, and a mailto: or https: sub. Then the body is
decrypted as the browser would (RFC 8291, http_ece) and one JSON line goes to
DIR/received.jsonl before the 201 Created:
    {"subscription": i, "payload": TEXT, "ttl": N, "urgency": U or null,
     "topic": T or null, "vapid_k": K}
A refused push gets 400, 401, 403 or 413 with a short text reason and is not
recorded. With --fail-first K the first K POSTs to a subscription (gone
included) get 503. Stops cleanly on SIGTERM/SIGINT.

The interpreter with http_ece and cryptography: `bash infra/pytools.sh`.
"""

import argparse
import base64
import binascii
import http.server
import itertools
import json
import os
import re
import signal
import sys
import threading
import time

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_BODY = 4096  # what a push service must accept (RFC 8030 §7.2)
MAX_EXP_AHEAD = 24 * 3600  # RFC 8292 §2
URGENCIES = {"very-low", "low", "normal", "high"}  # RFC 8030 §5.3
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4
B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    """Strict base64url without padding (as JWS wants); None if it is not."""
    if not B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        return None


class Subscription:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def to_json(self):
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(public), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "keys": keys}


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_authorization(value):
    """(jwt, k) of `vapid t=JWT, k=KEY`; Refused(401) if absent or malformed."""
    if not value:
        raise Refused(401, "missing Authorization")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise Refused(401, "Authorization scheme must be vapid")
    params = {}
    for part in rest.split(","):
        name, eq, val = part.strip().partition("=")
        name = name.strip().lower()
        if not eq or name in params:
            raise Refused(401, "malformed vapid Authorization")
        params[name] = val.strip().strip('"')
    if not params.get("t") or not params.get("k"):
        raise Refused(401, "vapid Authorization needs t and k")
    return params["t"], params["k"]


def verify_vapid(jwt, k, audience, now):
    """The JWT's claims if it is a valid VAPID token for `audience`, else Refused(403)."""
    raw_key = unb64url(k)
    if raw_key is None or len(raw_key) != 65 or raw_key[0] != 4:
        raise Refused(403, "k must be a 65-byte uncompressed P-256 point in base64url")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    except ValueError:
        raise Refused(403, "k is not a P-256 point") from None

    parts = jwt.split(".")
    if len(parts) != 3:
        raise Refused(403, "t is not a compact JWS")
    header_b, claims_b, sig = (unb64url(p) for p in parts)
    if header_b is None or claims_b is None or sig is None:
        raise Refused(403, "t is not base64url")
    if len(sig) != 64:
        raise Refused(403, "ES256 signature must be 64 bytes (r||s)")
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    signature = encode_dss_signature(r, s)
    try:
        public.verify(signature, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(403, "JWT signature does not verify with k") from None

    try:
        header, claims = json.loads(header_b), json.loads(claims_b)
    except ValueError:
        raise Refused(403, "JWT header or claims are not JSON") from None
    if (
        not isinstance(header, dict)
        or header.get("alg") != "ES256"
        or header.get("typ", "JWT") != "JWT"
    ):
        raise Refused(403, "JWT header must be {typ: JWT, alg: ES256}")
    if not isinstance(claims, dict):
        raise Refused(403, "JWT claims are not an object")
    if claims.get("aud") != audience:
        raise Refused(403, f"aud must be {audience}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Refused(403, "exp must be an integer")
    if exp <= now:
        raise Refused(403, "JWT expired")
    if exp > now + MAX_EXP_AHEAD:
        raise Refused(403, "exp is more than 24 hours ahead")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise Refused(403, "sub must be a mailto: or https: URL")
    return claims


class Receiver:
    def __init__(self, out, port, subscriptions, fail_first):
        self.out = os.path.join(out, "received.jsonl")
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.subscriptions = [Subscription(f"{self.origin}/push/{i}") for i in range(subscriptions)]
        self.gone = Subscription(f"{self.origin}/gone/0")
        self.fail_first = fail_first
        self.posts = itertools.count(1)
        self.messages = itertools.count(1)
        self.lock = threading.Lock()

    def announce(self):
        return {
            "port": self.port,
            "subscriptions": [s.to_json() for s in self.subscriptions],
            "gone": self.gone.to_json(),
        }

    def should_fail(self):
        with self.lock:
            return next(self.posts) <= self.fail_first

    def accept(self, index, headers, body):
        """Checks and decrypts one push to subscription `index` and records
        it; returns the message's number."""
        if headers.get("Content-Encoding", "").strip().lower() != "aes128gcm":
            raise Refused(400, "Content-Encoding must be aes128gcm")
        ttl = headers.get("TTL", "").strip()
        if not ttl.isdigit():
            raise Refused(400, "TTL header must be a non-negative integer")
        urgency = headers.get("Urgency")
        if urgency is not None and urgency.strip() not in URGENCIES:
            raise Refused(400, "Urgency must be very-low, low, normal or high")
        topic = headers.get("Topic")
        if topic is not None and not TOPIC.fullmatch(topic.strip()):
            raise Refused(400, "Topic must be 1 to 32 base64url characters")
        jwt, k = parse_authorization(headers.get("Authorization"))
        verify_vapid(jwt, k, self.origin, time.time())

        sub = self.subscriptions[index]
        try:
            plaintext = http_ece.decrypt(
                body, private_key=sub.key, auth_secret=sub.auth, version="aes128gcm"
            )
        except Exception as e:  # http_ece raises assorted errors on bad input
            raise Refused(400, f"cannot decrypt: {e}") from None

        record = {
            "subscription": index,
            "payload": plaintext.decode("utf-8", "replace"),
            "ttl": int(ttl),
            "urgency": urgency.strip() if urgency is not None else None,
            "topic": topic.strip() if topic is not None else None,
            "vapid_k": k,
        }
        line = (json.dumps(record) + "\n").encode()
        with self.lock:
            # One write to an O_APPEND file: readers never see half a line.
            fd = os.open(self.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            return next(self.messages)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as senders' connection pools expect

    def answer(self, status, reason="", headers=()):
        data = reason.encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if status >= 400:
            sys.stderr.write(f"push_receiver: POST {self.path}: {status} {reason}\n")

    def do_POST(self):
        receiver = self.server.receiver
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            return self.answer(400, "Content-Length required")
        if int(length) > MAX_BODY:
            # The body is left unread, so this connection cannot go on.
            self.close_connection = True
            return self.answer(413, f"body over {MAX_BODY} bytes")
        body = self.rfile.read(int(length))

        match = re.fullmatch(r"/(push|gone)/(\d+)", self.path)
        kind, index = (match[1], int(match[2])) if match else (None, None)
        known = len(receiver.subscriptions) if kind == "push" else 1
        if kind is None or index >= known:
            return self.answer(404, "no such subscription")
        if receiver.should_fail():
            return self.answer(503, "push service unavailable, retry later")
        if kind == "gone":
            return self.answer(410, "push subscription has expired")
        try:
            message = receiver.accept(index, self.headers, body)
        except Refused as r:
            return self.answer(r.status, r.reason)
        location = f"{receiver.origin}/message/{message}"
        self.answer(201, headers=[("Location", location), ("TTL", self.headers["TTL"].strip())])

    def log_message(self, format, *args):
        pass  # refusals are logged by answer()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--subscriptions", type=int, default=1, metavar="N")
    p.add_argument("--fail-first", type=int, default=0, metavar="K",
                   help="answer the first K POSTs with 503")
    args = p.parse_args()
    if args.subscriptions < 0 or args.fail_first < 0:
        p.error("--subscriptions and --fail-first must not be negative")
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.receiver = Receiver(args.out, port, args.subscriptions, args.fail_first)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(json.dumps(server.receiver.announce()), flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
