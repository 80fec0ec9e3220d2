"""An OTLP/HTTP logs receiver for the tests, decoding every request with the
official OTLP protobuf messages (the `opentelemetry-proto` package).

usage: otlp_receiver.py PORT OUT [ANSWER...]

Answers are used one per request, in order, then every request is accepted:
  429:N      429 with `Retry-After: N`, records not kept
  partial:N  200 with a partial success rejecting the request's last N records
Each request becomes one JSON line in OUT: its arrival time, headers,
answer, the resource, the records kept and the ids of those rejected.
Prints `ready` once listening.
"""

import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

PORT, OUT, ANSWERS = int(sys.argv[1]), sys.argv[2], list(sys.argv[3:])
LOCK = threading.Lock()


def record_id(record):
    for kv in record.attributes:
        if kv.key == "log.record.uid":
            return kv.value.string_value
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = logs_service_pb2.ExportLogsServiceRequest()
        request.ParseFromString(body)
        with LOCK:
            answer = ANSWERS.pop(0) if ANSWERS else "200"
        records = [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
        status, headers, rejected = 200, {}, []
        response = logs_service_pb2.ExportLogsServiceResponse()
        if answer.startswith("429:"):
            status, headers["Retry-After"] = 429, answer[4:]
            records = []
        elif answer.startswith("partial:"):
            n = int(answer[8:])
            rejected = [record_id(r) for r in records[len(records) - n:]]
            records = records[: len(records) - n]
            response.partial_success.rejected_log_records = n
            response.partial_success.error_message = "the test rejects these"
        line = {
            "time": time.time(),
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "answer": answer,
            "raw": body.decode("latin-1"),
            "resources": [MessageToDict(rl.resource) for rl in request.resource_logs],
            "scopes": [MessageToDict(sl.scope) for rl in request.resource_logs for sl in rl.scope_logs],
            "records": [MessageToDict(r, preserving_proto_field_name=True) for r in records],
            "rejected": rejected,
        }
        with LOCK, open(OUT, "a") as out:
            out.write(json.dumps(line) + "\n")
        payload = response.SerializeToString()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
