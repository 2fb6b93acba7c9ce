"""An OTLP/HTTP collector on 127.0.0.1 for Folio's black-box tests.

    python otlp_receiver.py

Binds an ephemeral port and prints one JSON line on stdout: {"port": P}.
POST /v1/traces and POST /v1/metrics take protobuf bodies
(Content-Type application/x-protobuf), decoded with the OpenTelemetry
project's own generated classes (opentelemetry-proto), so a malformed body
is refused with 400 rather than guessed at. GET /spans answers every span
received so far and GET /metrics every data point, as JSON lists:
    spans:   {"traceId", "spanId", "parentSpanId" (hex, "" for a root),
              "name", "kind", "attributes": {key: value}, "status": code,
              "resource": {key: value}}
    metrics: {"name", "kind" ("sum", "gauge" or "histogram"), "monotonic",
              "attributes": {key: value}, "value"; for histograms "count",
              "sum", "bucketCounts", "bounds", "cumulative" instead of "value"}
Stops cleanly on SIGTERM/SIGINT.

The interpreter with opentelemetry-proto: `bash infra/pytools.sh`.
"""

import http.server
import json
import signal
import sys
import threading

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

LOCK = threading.Lock()
SPANS = []
POINTS = []


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(kvs):
    return {kv.key: value_of(kv.value) for kv in kvs}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.answer(415, b"protobuf only", "text/plain")
        try:
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                received = []
                for rs in request.resource_spans:
                    resource = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            received.append({
                                "traceId": s.trace_id.hex(),
                                "spanId": s.span_id.hex(),
                                "parentSpanId": s.parent_span_id.hex(),
                                "name": s.name,
                                "kind": s.kind,
                                "startNs": s.start_time_unix_nano,
                                "endNs": s.end_time_unix_nano,
                                "attributes": attributes(s.attributes),
                                "status": s.status.code,
                                "resource": resource,
                            })
                with LOCK:
                    SPANS.extend(received)
                reply = ExportTraceServiceResponse().SerializeToString()
            elif self.path == "/v1/metrics":
                request = ExportMetricsServiceRequest.FromString(body)
                received = []
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            data = getattr(m, kind)
                            for p in data.data_points:
                                point = {
                                    "name": m.name,
                                    "kind": kind,
                                    "monotonic": getattr(data, "is_monotonic", False),
                                    "attributes": attributes(p.attributes),
                                }
                                if kind == "histogram":
                                    point.update({
                                        "count": p.count,
                                        "sum": p.sum,
                                        "bucketCounts": list(p.bucket_counts),
                                        "bounds": list(p.explicit_bounds),
                                        "cumulative": data.aggregation_temporality == 2,
                                    })
                                else:
                                    point["value"] = getattr(p, p.WhichOneof("value"))
                                received.append(point)
                with LOCK:
                    POINTS.extend(received)
                reply = ExportMetricsServiceResponse().SerializeToString()
            else:
                return self.answer(404, b"no such path", "text/plain")
        except DecodeError as e:
            return self.answer(400, str(e).encode(), "text/plain")
        self.answer(200, reply, "application/x-protobuf")

    def do_GET(self):
        with LOCK:
            data = {"/spans": SPANS, "/metrics": POINTS}.get(self.path)
            body = json.dumps(data).encode() if data is not None else None
        if body is None:
            return self.answer(404, b"no such path", "text/plain")
        self.answer(200, body, "application/json")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
