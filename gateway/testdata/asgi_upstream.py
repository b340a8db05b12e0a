"""An ASGI upstream on hypercorn, for the gateway's upgrade tests.

hypercorn speaks HTTP/1.1, h2c (both the "Upgrade: h2c" handshake and
prior knowledge) and WebSockets, so it is the upstream an attacker hopes
to reach through a proxy that forwards Upgrade headers. Every request and
WebSocket handshake it receives is recorded; GET /__seen (sent directly,
not through the gateway) lists them as JSON objects with the method, path,
HTTP version and headers. Other requests are answered with the same record
for themselves. WebSockets echo each message back.

Usage: python3 asgi_upstream.py   (prints the port it listens on, 127.0.0.1)
"""
import asyncio
import json
import socket
import sys
import threading

from hypercorn.asyncio import serve
from hypercorn.config import Config

seen = []


def record(scope):
    return {
        "type": scope["type"],
        "method": scope.get("method", "GET"),
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "http_version": scope.get("http_version", ""),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
    }


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        seen.append(record(scope))
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": msg.get("text"), "bytes": msg.get("bytes")})
    if scope["path"] == "/__seen":
        data = json.dumps(seen).encode()
    else:
        rec = record(scope)
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        rec["body_len"] = len(body)
        seen.append(rec)
        data = json.dumps(rec).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    cfg = Config()
    cfg.bind = ["fd://%d" % sock.fileno()]
    cfg.accesslog = None
    cfg.errorlog = None
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    # Stop when the test that started us goes away.
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    print(sock.getsockname()[1], flush=True)
    loop.run_until_complete(serve(app, cfg, shutdown_trigger=stop.wait))


if __name__ == "__main__":
    main()
