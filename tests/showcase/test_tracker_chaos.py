"""The basic tracker against a flaky server: 500s, 429s and dropped connections -> every record once."""

from __future__ import annotations

import contextlib
import random
import socket
import threading

import pytest

from metering.store import read_calls
from showcase.instrumentation.revenium_basic import ReveniumBasicTracker
from showcase.metadata.metadata_builder import MetadataBuilder
from tests.ingest.ingest_helpers import KEY, ingest_server

RECORDS = 2_000


class FlakyMiddleware:
    """Fails ~15 % of requests with 500/429 before the app sees them; ~5 % fail AFTER the app stored them."""

    def __init__(self, app, seed: int = 7) -> None:
        self.app, self.rng, self.lock = app, random.Random(seed), threading.Lock()
        self.injected = {"500": 0, "429": 0, "after": 0}

    def __call__(self, environ, start_response):
        with self.lock:
            roll = self.rng.random()
        if roll < 0.15:
            status = "500 Internal Server Error" if roll < 0.08 else "429 Too Many Requests"
            self.injected[status[:3]] += 1
            environ["wsgi.input"].read()
            start_response(status, [("Content-Type", "application/json"), ("Retry-After", "0")])
            return [b'{"error": "injected"}']
        if roll < 0.20:  # the row is stored, the answer is lost: the retry must be a duplicate
            self.injected["after"] += 1
            list(self.app(environ, lambda *a, **k: None))
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "injected after store"}']
        return self.app(environ, start_response)


class DroppingProxy:
    """Loopback TCP proxy that closes the connection on ~5 % of chunks in either direction."""

    def __init__(self, target_port: int, seed: int = 11) -> None:
        self.target = ("127.0.0.1", target_port)
        self.rng, self.lock = random.Random(seed), threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _drop(self) -> bool:
        with self.lock:
            hit = self.rng.random() < 0.05
            self.dropped += hit
            return hit

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for s in (client, upstream):  # no Nagle/delayed-ACK stalls on relayed small writes
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                if self._drop():
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.mark.slow
def test_tracker_delivers_every_record_exactly_once_through_failures(tmp_path):
    flaky: list[FlakyMiddleware] = []

    def middleware(app):
        flaky.append(FlakyMiddleware(app))
        return flaky[0]

    meta = MetadataBuilder().customer("cust_chaos").organization("org_chaos").product("p1").build()
    with ingest_server(tmp_path / "calls.csv", middleware=middleware) as (srv, _):
        proxy = DroppingProxy(srv.port)
        tracker = ReveniumBasicTracker(
            KEY, f"http://127.0.0.1:{proxy.port}", backoff_base=0.002, backoff_max=0.05, max_attempts=50
        )
        try:
            sent = [
                tracker.track_ai_call("openai", "gpt-4o-mini", 100 + i, 20, duration_ms=50, metadata=meta)
                for i in range(RECORDS)
            ]
            assert tracker.flush(120)
        finally:
            tracker.close(10)
            proxy.close()
    frame = read_calls(tmp_path / "calls.csv")
    assert len(frame) == RECORDS
    assert frame["call_id"].is_unique
    assert set(frame["call_id"]) == set(sent)
    assert tracker.stats.failed == 0 and tracker.stats.dropped == 0
    assert min(flaky[0].injected.values()) > 0 and proxy.dropped > 0
    assert tracker.stats.retries > 0 and tracker.stats.duplicates > 0
