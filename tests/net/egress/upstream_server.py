#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The "real servers" behind the egress gateway in test-net-egress-gateway: HTTP on :80 and
# HTTPS on :443 of the given address (certificate from the test CA). Every request's line and
# headers are appended as a JSON line to the log (what the upstream saw, e.g. an injected
# header); the answer never echoes headers, so nothing injected can reach the sandbox.
#   upstream_server.py ADDR CERT KEY LOG
import http.server
import json
import socket
import ssl
import sys
import threading

addr, cert, key, log_path = sys.argv[1:5]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def _answer(self):
        body_in = self._body()
        with lock, open(log_path, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "tls": isinstance(self.connection, ssl.SSLSocket),
                                "headers": [[k, v] for k, v in self.headers.items()],
                                "body_len": len(body_in)}) + "\n")
        if self.path.startswith("/big/"):
            out = b"x" * int(self.path[5:])
        else:
            out = ("hello from upstream %s %s body=%d\n" % (self.command, self.path, len(body_in))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET


plain = Server((addr, 80), Handler)
tls = Server((addr, 443), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
threading.Thread(target=tls.serve_forever, daemon=True).start()
print("ready", flush=True)
plain.serve_forever()
