"""Run an ASGI app on a real socket in a background thread, and how Nexus serves HTTP.

The simulator, the dashboard and the tests all need a real HTTP server that
starts quickly and stops cleanly inside one process; `nexus serve` runs the
same keep-alive policy in the foreground.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

#: How long an idle keep-alive connection stays open. A server that closes an idle
#: connection races the client's next request on it: under a burst the request can be
#: in the socket, unread, when the timer fires, and the client gets a reset for a
#: request the server never saw. uvicorn's default (5 s) equals httpx's own idle expiry,
#: so that race was live. Kept longer than any client's pool keeps a connection (httpx
#: 5 s, .NET 1-2 min, Go 90 s, load balancers 60 s), the client always closes first.
KEEP_ALIVE_S = 180


class ThreadedServer:
    """A Uvicorn server on its own thread; use as a context manager or start()/stop()."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio only disables Nagle on sockets it creates itself; without this every
        # response waits ~40 ms for the client's delayed ACK. Accepted sockets inherit it.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
