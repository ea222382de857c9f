#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for the OTLP export test.

  otlp_receiver.py

Listens on 127.0.0.1 (a free port), prints `listening http://127.0.0.1:PORT` first, then one
JSON line per span received on POST /v1/traces (application/x-protobuf):
{"traceId": hex, "spanId": hex, "name": ..., "attributes": {key: value}, "resource": {key: value}}
and, with each export, the request's headers as {"headers": {...}}.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        print(json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()}}), flush=True)
        for resource_spans in request.resource_spans:
            resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    print(json.dumps({
                        "traceId": span.trace_id.hex(), "spanId": span.span_id.hex(), "name": span.name,
                        "attributes": {a.key: value(a.value) for a in span.attributes}, "resource": resource,
                    }), flush=True)
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
