"""Serve a WSGI app with waitress on a background thread (loopback by default): tests and benchmarks.

The production way is the same server in the foreground (``waitress-serve`` or the dashboard's own
serve command); this wrapper only adds a free port, start/stop and a ready wait. ``WAITRESS_OPTIONS``
are the waitress settings every server that carries the ingest routes uses (this one too).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from waitress.server import create_server

#: waitress logs "Task queue depth is N" at WARNING for every request that finds all its threads busy:
#: under steady load that is a log line per request (CPU taken from serving), and no news
QUEUE_LOGGER = "waitress.queue"


def quiet_queue_warnings() -> None:
    """Keep waitress' per-request queue-depth warnings out of the log (its errors still show)."""
    logging.getLogger(QUEUE_LOGGER).setLevel(logging.ERROR)


#: waitress settings for servers carrying the ingest routes: read a request in 256 KB pieces instead of
#: 8 KB, and keep a body of up to 4 MB in memory instead of spilling it to a temp file past 512 KB. A
#: 5,000-record bulk POST (3.2 MB) cost waitress 14-17 ms of CPU with its defaults, 3 ms with these
#: (load 6); a connection can then hold 4 MB of memory while its body arrives
WAITRESS_OPTIONS: dict[str, int] = {"recv_bytes": 256 * 1024, "inbuf_overflow": 4 * 1024 * 1024}

#: how long the serving loop may sleep in select() before it looks whether it was stopped
LOOP_TIMEOUT_S = 0.05


class BackgroundServer:
    """``with BackgroundServer(app) as srv: requests.post(srv.url + ...)``; stops the server on exit."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 16, **options: Any
    ) -> None:
        self.server = create_server(
            app, host=host, port=port, threads=threads, **(WAITRESS_OPTIONS | options)
        )
        # the loop notices stop() at its next wake-up: 50 ms instead of waitress' whole second (the loop
        # wakes on every socket event anyway, so serving is unchanged)
        self.server.adj.asyncore_loop_timeout = LOOP_TIMEOUT_S
        self.host = host
        self.port = int(self.server.effective_port)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="waitress", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):  # the loop's sockets closed under it by stop()
            if not self._stopped:
                raise

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"waitress did not start listening on {self.url}")

    def stop(self) -> None:
        """Close the listening socket and every connection, then the worker threads (as webtest does)."""
        self._stopped = True
        while self.server._map:
            for channel in list(self.server._map.values()):
                channel.handle_close()
        self.server.task_dispatcher.shutdown(timeout=5)
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
