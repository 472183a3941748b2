"""A TCP forwarder a test controls, between a client (a store, a replica) and a server (the test PostgreSQL): `cut()`
drops every connection and refuses new ones (a restart, a failover), `blackhole()` keeps every connection up but
lets no byte through either way (a hung proxy, a silent partition: nothing fails, nothing answers), `restore()`
forwards again. The shared test cluster itself is never touched."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class Forwarder:
    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._open = True
        self._black = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url_for(self, url: str, password: str | None = None) -> str:
        """`url` (a PostgreSQL URL) pointed at this forwarder, with `password` if given."""
        parts = urlsplit(url)
        user = f"{parts.username}:{password}" if password else f"{parts.username}"
        return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{self.port}"))

    @classmethod
    def to(cls, url: str) -> Forwarder:
        parts = urlsplit(url)
        return cls((parts.hostname or "127.0.0.1", parts.port or 5432))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                if not self._open:
                    client.close()
                    continue
                if self._black:  # accepted, never answered: a connect that hangs until the client gives up
                    self._sockets.append(client)
                    continue
                upstream = socket.create_connection(self._target)
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._black:
                    sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._open = False
            self._black = False
            self._drop_all()

    def blackhole(self) -> None:
        with self._lock:
            self._black = True

    def restore(self) -> None:
        """Forward again; connections that were blackholed are dropped (their streams lost bytes)."""
        with self._lock:
            if self._black:
                self._drop_all()
            self._open, self._black = True, False

    def _drop_all(self) -> None:
        for end in self._sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        self._sockets.clear()

    def close(self) -> None:
        self.cut()
        self._server.close()
