"""A WSGI upstream for the gateway's hostile-client tests.

It runs on Python's wsgiref, which (like every WSGI and CGI server) turns
both "X-Auth-User" and "X_Auth_User" into HTTP_X_AUTH_USER and joins their
values, and percent-decodes the path. It answers every request with the
WSGI environment it saw, as JSON, so a test asserts what an upstream really
receives. GET /__seen (sent directly, not through the gateway) lists the
raw request targets received so far; paths under /hang/ wait before
answering, for timeout tests.

Usage: python3 wsgi_echo.py [--one-worker]   (prints the port it listens
on, 127.0.0.1). With --one-worker it serves one request at a time, like a
sync gunicorn worker or Flask's development server without threads.
"""
import json
import sys
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

seen = []
lock = threading.Lock()


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    def log_message(self, *args):
        pass

    def get_environ(self):
        env = super().get_environ()
        env["RAW_TARGET"] = self.path
        env["RAW_HEADER_NAMES"] = list(self.headers.keys())
        return env


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/__seen":
        with lock:
            data = json.dumps(seen).encode()
    else:
        with lock:
            seen.append(environ["RAW_TARGET"])
        if path.startswith("/hang/"):
            time.sleep(5)
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n) if n > 0 else b""
        out = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        out.update(
            REQUEST_METHOD=environ["REQUEST_METHOD"],
            PATH_INFO=path,
            QUERY_STRING=environ.get("QUERY_STRING", ""),
            RAW_TARGET=environ["RAW_TARGET"],
            RAW_HEADER_NAMES=environ["RAW_HEADER_NAMES"],
            BODY=body.decode("latin-1"),
        )
        data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def main():
    cls = WSGIServer if "--one-worker" in sys.argv else Server
    srv = make_server("127.0.0.1", 0, app, server_class=cls, handler_class=Handler)
    print(srv.server_port, flush=True)
    # Stop when the test that started us goes away.
    threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
