"""The benchmark's floor: Python's http.server sending bytes encoded beforehand, and nothing else.

python -m tests.benchmarks.static_server BODY_FILE GZIP_FILE   # prints its port, serves until killed
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def main(argv: list[str]) -> int:
    body, gzipped = Path(argv[0]).read_bytes(), Path(argv[1]).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            gz = "gzip" in self.headers.get("Accept-Encoding", "")
            data = gzipped if gz else body
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
