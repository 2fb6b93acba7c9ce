"""A webhook receiver for the publishing tests, on 127.0.0.1.

Every POST is recorded. A POST to /hooks/NAME is checked with the Standard
Webhooks reference library (`standardwebhooks`) against each secret
registered for NAME, one at a time, so a test sees which secrets signed it.
What NAME answers is scripted:

  POST /_control/NAME {"secrets": [...], "fail": 2, "failStatus": 503,
                       "retryAfter": 1, "status": 410, "delayMs": 500}

`fail` requests answer `failStatus` (with `Retry-After` when given), then
`status` (default 200). GET /_received?name=NAME lists what NAME got.
Prints {"port": N} when ready.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
scripts = {}
received = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/_received":
            return self.answer(404)
        name = parse_qs(url.query).get("name", [""])[0]
        with lock:
            body = json.dumps(received.get(name, [])).encode()
        self.answer(200, body, [("content-type", "application/json")])

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        parts = urlparse(self.path).path.strip("/").split("/")
        if parts[0] == "_control":
            with lock:
                scripts[parts[1]] = json.loads(body)
            return self.answer(204)
        name = parts[1] if parts[0] == "hooks" and len(parts) > 1 else parts[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            script = scripts.setdefault(name, {})
            seen = len(received.get(name, []))
        verified_with = []
        for index, secret in enumerate(script.get("secrets", [])):
            try:
                Webhook(secret).verify(body, headers)
                verified_with.append(index)
            except Exception:
                pass
        if seen < script.get("fail", 0):
            status = script.get("failStatus", 503)
        else:
            status = script.get("status", 200)
        if script.get("delayMs"):
            time.sleep(script["delayMs"] / 1000)
        record = {
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "verifiedWith": verified_with,
            "answered": status,
            "at": time.time(),
        }
        with lock:
            received.setdefault(name, []).append(record)
        answer_headers = [("content-type", "application/json")]
        if status >= 400 and script.get("retryAfter") is not None:
            answer_headers.append(("retry-after", str(script["retryAfter"])))
        self.answer(status, json.dumps({"ok": status < 300}).encode(), answer_headers)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
