"""The real app served by uvicorn on a loopback port, in a thread: for WebSocket and SSE tests.

httpx2's in-process transports cannot hold a WebSocket for the sync client,
and streams need a real event loop serving while the test (another thread)
reads. ``LiveServer`` runs the same ``build_server`` as ``yard serve``, so
shutdown behaves as in production (streams end with 1012), and ``call()``
runs a coroutine on the server's loop (to publish through the services).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import uvicorn

from fleetyard.server.app import create_app
from fleetyard.server.runner import build_server
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    settings: Settings
    port: int = field(default_factory=free_port)
    state: AppState | None = None
    loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def start(self, timeout: float = 30.0, *, new_port: bool = True) -> None:
        """Start serving; when the port was taken meanwhile (an outgoing connection may get
        it as its ephemeral port), try again, on another port unless ``new_port`` is off."""
        for attempt in range(5):
            if self._start_once(timeout):
                return
            time.sleep(0.2 * attempt)
            if new_port:
                self.port = free_port()
        raise AssertionError("the live server did not start")

    def _start_once(self, timeout: float) -> bool:
        ready = threading.Event()

        def on_ready(state: AppState) -> None:
            self.state = state
            self.loop = asyncio.get_running_loop()
            ready.set()

        app = create_app(self.settings, on_ready=on_ready)
        server = build_server(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = server

        def run() -> None:
            # uvicorn exits (SystemExit) when it cannot bind: report, don't raise in a thread.
            with contextlib.suppress(SystemExit):
                server.run()

        self._thread = threading.Thread(target=run, name="live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (ready.is_set() and server.started):
            if not self._thread.is_alive():
                self._server = self._thread = None
                return False
            if time.monotonic() > deadline:
                raise AssertionError("the live server did not start")
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the live server did not stop"
        self._server = self._thread = None
        self.state = self.loop = None

    def restart(self) -> None:
        """Stop, then serve again on the same port and database (clients reconnect)."""
        self.stop()
        self.start(new_port=False)

    def call(self, fn: Callable[[AppState], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``fn(state)`` on the server's event loop and return its result."""
        assert self.loop is not None
        assert self.state is not None
        state = self.state

        async def run() -> T:
            return await fn(state)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TcpProxy:
    """A loopback TCP proxy to ``target_port`` that tests can cut or freeze.

    ``cut()`` closes every open connection (a network drop); ``freeze()``
    stops forwarding on the open connections while keeping them open (a
    silent, half-dead link); connections made afterwards work normally.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._open: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            frozen = threading.Event()
            with self._lock:
                self._open.append((client, upstream, frozen))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink, frozen), daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, frozen: threading.Event) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if frozen.is_set():
                    continue  # swallowed: the link is dead but nobody says so
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for client, upstream, _ in connections:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def freeze(self) -> None:
        with self._lock:
            for _, _, frozen in self._open:
                frozen.set()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
