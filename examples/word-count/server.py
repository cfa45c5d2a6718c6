"""A container function in plain Python: any program that serves HTTP on $PORT is one.

Nimbus gives it PORT (and in local mode HOST=127.0.0.1), NIMBUS_FUNCTION_NAME and NIMBUS_FUNCTION_NAMESPACE, NIMBUS_TIMEOUT_MS, the
Function's own env, an X-Call-Id header on every call (and traceparent when the caller sent
one), and SIGTERM when the replica goes: finish what is in flight, then exit.

  POST /function/word-count  (any text)  -> {"words": 3, "lines": 1, ...}
  GET  /healthz                          -> 200 once serving (the Function's readiness check)
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"status": "ok"})
        return self.reply(200, self.whoami())

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        text = self.rfile.read(length).decode("utf-8", errors="replace")
        return self.reply(
            200,
            {
                "words": len(text.split()),
                "lines": len(text.splitlines()),
                "characters": len(text),
                "callId": self.headers.get("x-call-id"),
            },
        )

    def whoami(self):
        return {
            "pid": os.getpid(),
            "port": int(os.environ["PORT"]),
            "function": os.environ.get("NIMBUS_FUNCTION_NAME"),
            "namespace": os.environ.get("NIMBUS_FUNCTION_NAMESPACE"),
            "timeoutMs": os.environ.get("NIMBUS_TIMEOUT_MS"),
            "greeting": os.environ.get("GREETING"),
            "path": self.path,
            "callId": self.headers.get("x-call-id"),
            "traceparent": self.headers.get("traceparent"),
        }

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.path == "/healthz":
            return
        # One JSON line per call on stdout, as Nimbus's own processes log.
        line = {"level": "info", "msg": format % args, "function": os.environ.get("NIMBUS_FUNCTION_NAME")}
        print(json.dumps(line), flush=True)


def main():
    server = ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080"))), Handler)
    # Calls in flight finish before the process exits: shutdown() stops the accept loop and
    # server_close() joins the threads still answering.
    server.daemon_threads = False
    server.block_on_close = True

    def drain(signum, frame):
        print(json.dumps({"level": "info", "msg": "SIGTERM: draining"}), flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, drain)
    server.serve_forever()
    server.server_close()
    print(json.dumps({"level": "info", "msg": "drained; exiting"}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
