"""Ingest speed over real HTTP: single-record and bulk POSTs to waitress on loopback, into a temp CSV.

Goals (ingest issue): single-record ``POST /meter/v2/ai/completions`` with 16 concurrent keep-alive
clients >= 1,500 requests/s with p99 latency <= 100 ms (with and without ``Idempotency-Key``);
``POST /meter/v2/ai/completions/batch`` of 5,000 records >= 30,000 records/s.
Run: ``.venv/bin/python benchmarks/bench_ingest.py [--requests 10000] [--rounds 3] [--batch 5000]
[--bulk-runs 5] [--json]``.

Baselines measured in the same run, same server process and clients: a bare WSGI function answering
204 in front of Flask (the waitress floor) and a Flask route answering 204 on the ingest app (the
waitress + Flask floor the goals were set against); waitress closes the connection after every 204
(it carries no Content-Length), so these two reconnect for every request, while the ingest routes keep
their connections: the same two answering an empty 200 (keep-alive) are measured too. The
single-record route itself is answered in front of Flask (``ingest.routes.SingleRecordFastPath``), so
it can beat the Flask floors; the bare-WSGI keep-alive floor bounds it. For the bulk route, the same records handled
in-process without HTTP (json.loads, ``map_batch``, pricing, ``CallStore.append``; the per-record
``map_revenium`` loop it replaced is timed beside it) and through
``CallStore.append`` alone. Each phase ends by checking that the CSV holds exactly as many rows as the
server acknowledged with a 2xx; at the end the store's reader checks every row is there once.
Records differ in id, times, model and token counts, as in real traffic.

Processes: CPython runs one thread at a time per process, so the server (waitress, 16 worker threads,
the group-commit writer) runs alone in a subprocess as in production, and the clients in
``--client-procs`` other processes (default 1), one keep-alive HTTP/1.1 connection per client, all
of a process's connections driven by one ``selectors`` event loop, sending pre-built request bytes on
raw sockets (CPU per request printed; a thread per connection took about twice as much, and on 2
cores every microsecond the client spends is taken from the servers). On the 2-core machine one client
process gave the highest and steadiest server figures; 2 or 4 client processes took 10-25 % off every
phase, floors included, by preempting the server (the server is bound to one core by the GIL: its
CPU per request is printed, with the writer thread's share, and the clients'). Clients and server
share the machine, so the figures are what a client on the same host gets. The CSV goes to the
system temp directory (``--dir`` to change it); its filesystem is printed, as fsync is free on tmpfs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(ROOT))

KEY = "bench-key-1"
SINGLE = "/meter/v2/ai/completions"
BATCH = "/meter/v2/ai/completions/batch"
NOOP = "/bench/noop"
WSGI_NOOP = "/bench/wsgi-noop"
NOOP_KEEP = "/bench/noop-keepalive"
WSGI_NOOP_KEEP = "/bench/wsgi-noop-keepalive"
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4"),
    ("openai", "gpt-4"),
]
GOAL_RPS, GOAL_P99_MS, GOAL_BULK_RPS = 1500.0, 100.0, 30_000.0
#: issue 17: N ingest processes (``revenium-flow ingest --workers 2``) vs one, same run; one process vs the
#: Flask 204 floor of the same run
GOAL_WORKERS_RATIO, GOAL_FLOOR_RATIO = 1.6, 0.5


# --- the records sent ---------------------------------------------------------------------------
BASE_TIME = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def bench_record(template: dict[str, Any], tid: str, n: int) -> dict[str, Any]:
    """``template`` (tests' ``wire_record()``) with its own id, times, model and token counts.

    Values differ from record to record as in real traffic, so no cache of parsed timestamps or
    prices could make the figures look better than they are.
    """
    start = BASE_TIME + timedelta(milliseconds=n * 7)
    duration = 300 + (n * 37) % 4000
    provider, model = MODELS[n % len(MODELS)]
    inp, out = 200 + (n * 53) % 6000, 50 + (n * 29) % 1500
    return template | {
        "transactionId": f"txn_{tid}",
        "provider": provider,
        "model": model,
        "inputTokenCount": inp,
        "outputTokenCount": out,
        "totalTokenCount": inp + out,
        "cacheReadTokenCount": inp // 5,
        "requestTime": _iso(start),
        "responseTime": _iso(start + timedelta(milliseconds=duration)),
        "completionStartTime": _iso(start + timedelta(milliseconds=duration // 4)),
        "requestDuration": duration,
    }


# --- server process -----------------------------------------------------------------------------
def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def server_main(conn: Any, csv_path: str, threads: int) -> None:
    """Subprocess: the ingest routes plus a 204 route on one Flask app, served by waitress on loopback.

    ``WSGI_NOOP`` is answered by a bare WSGI function in front of Flask: the waitress-only floor.
    """
    import logging

    import psutil
    from flask import Flask, Response

    from ingest.routes import register_ingest
    from ingest.serving import BackgroundServer

    # waitress warns "Task queue depth is N" whenever all its threads are busy, and "unhandled close
    # event" when BackgroundServer.stop closes its sockets: noise here, not news (errors still show)
    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = Flask("bench-ingest")
    state = register_ingest(app, Path(csv_path), api_keys=[KEY])
    app.add_url_rule(NOOP, "bench_noop", lambda: Response(status=204), methods=["POST"])
    # the same answers as an empty 200: with a Content-Length, so waitress keeps the connection open as
    # it does for the ingest routes' answers (after a 204 it closes it)
    app.add_url_rule(NOOP_KEEP, "bench_noop_keep", lambda: Response(b"", status=200), methods=["POST"])

    def front(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == WSGI_NOOP:
            start_response("204 No Content", [])
            return []
        if environ["PATH_INFO"] == WSGI_NOOP_KEEP:
            start_response("200 OK", [("Content-Length", "0")])
            return []
        return app.wsgi_app(environ, start_response)

    srv = BackgroundServer(front, threads=threads).start()
    me, writer_tid = psutil.Process(), state.writer._thread.native_id
    conn.send(srv.url)
    while True:
        cmd = conn.recv()
        if cmd == "stats":
            writer = [t.user_time + t.system_time for t in me.threads() if t.id == writer_tid]
            conn.send(
                {
                    "cpu_s": _cpu_seconds(),
                    "writer_cpu_s": writer[0] if writer else float("nan"),
                    "batches": state.writer.batches,
                    "rows_written": state.writer.rows_written,
                    "rows_stored": state.counters.rows_stored,
                    "duplicates": state.counters.duplicates,
                    "rejected": state.counters.rejected_requests,
                }
            )
        elif cmd == "stop":
            break
    srv.stop()
    state.close()
    conn.send("stopped")


class Server:
    """Handle on the server subprocess: its URL, stats (CPU seconds, writer batches) and stop."""

    def __init__(self, csv_path: Path, threads: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=server_main, args=(child, str(csv_path), threads), daemon=True)
        self.proc.start()
        if not self.conn.poll(120):
            raise RuntimeError("the server process did not start")
        url = self.conn.recv()
        host, port = url.rsplit("/", 1)[-1].split(":")
        self.address = (host, int(port))

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.conn.poll(30)
        self.proc.join(30)


class IngestCommand:
    """``revenium-flow ingest --workers N`` (the production scale-out command) in a subprocess."""

    def __init__(self, csv_path: Path, workers: int, threads: int) -> None:
        import subprocess

        env = {**os.environ, "REVENIUM_FLOW_API_KEYS": KEY, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "cli", "ingest", "--data", str(csv_path), "--port", "0"]
        cmd += ["--workers", str(workers), "--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        port = int(line.rsplit(":", 1)[-1].split()[0])
        self.address = ("127.0.0.1", port)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every worker imports the app: wait until answers come
            try:
                conn = Connection(self.address)
                status, _ = conn.exchange(
                    f"GET /meter/v2/status HTTP/1.1\r\nHost: {self.address[0]}\r\nx-api-key: {KEY}\r\n\r\n".encode()
                )
                conn.close()
                if status == 200:
                    time.sleep(2.0)  # the other workers start at the same pace
                    return
            except OSError:
                time.sleep(0.2)
        self.proc.kill()  # never leave a server behind
        raise RuntimeError("revenium-flow ingest did not start (GET /meter/v2/status never answered 200)")

    def cpu_seconds(self) -> list[float]:
        """CPU seconds (user + system) of each serving process so far: the worker processes, or the
        one process itself with ``--workers 1`` (how evenly SO_REUSEPORT spreads the load shows here)."""
        import psutil

        parent = psutil.Process(self.proc.pid)
        procs = parent.children() or [parent]
        return [sum(p.cpu_times()[:2]) for p in sorted(procs, key=lambda p: p.pid)]

    def stop(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


# --- a minimal keep-alive HTTP/1.1 client -------------------------------------------------------
def request_bytes(path: str, body: bytes, idempotency_key: str | None = None) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench-ingest/1.0\r\n"
        f"x-api-key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    if idempotency_key is not None:
        head += f"Idempotency-Key: {idempotency_key}\r\n"
    return (head + "\r\n").encode() + body


class Connection:
    """One keep-alive connection; ``exchange`` sends a request and reads the whole answer."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""
        return sock

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        sock = self.sock or self._connect()
        sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill(sock)
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4 :]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status in (204, 304) or status < 200:
            body = b""
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill(sock)
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked(sock)
        else:  # body until close
            while True:
                try:
                    self._fill(sock)
                except ConnectionError:
                    break
            body, self.buf = self.buf, b""
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _chunked(self, sock: socket.socket) -> bytes:
        out = []
        while True:
            while (nl := self.buf.find(b"\r\n")) < 0:
                self._fill(sock)
            size = int(self.buf[:nl].split(b";")[0], 16)
            while len(self.buf) < nl + 2 + size + 2:
                self._fill(sock)
            out.append(self.buf[nl + 2 : nl + 2 + size])
            self.buf = self.buf[nl + 2 + size + 2 :]
            if size == 0:
                return b"".join(out)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# --- client processes ---------------------------------------------------------------------------
def _response_end(buf: bytes) -> tuple[int, int, bool] | None:
    """(status, length of the whole answer, connection closed?) once ``buf`` holds a complete HTTP/1.1
    answer, else None. Every answer here has a Content-Length or no body (204/304); waitress closes the
    connection after a 204 (it has no Content-Length), so the 204 floor reconnects for every request."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    lower = head.lower()
    length = 0
    if status not in (204, 304) and status >= 200:
        at = lower.find("\r\ncontent-length:")
        if at < 0:
            raise ConnectionError(f"answer without Content-Length: {head[:200]!r}")
        length = int(lower[at + 17 :].split("\r\n", 1)[0])
    total = end + 4 + length
    return (status, total, "\r\nconnection: close" in lower) if len(buf) >= total else None


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _client_loop(
    address: tuple[str, int], per_connection: list[list[bytes]], barrier: Any, out: dict[str, Any]
) -> None:
    """All connections of this process in one thread (``selectors``): each sends its next request as
    soon as the answer to the previous one is complete. One thread, so no GIL hand-offs between client
    threads: about half the CPU per request of a thread per connection."""
    import selectors

    sel = selectors.DefaultSelector()
    socks = [_connect(address) for _ in per_connection]  # before the start line: only requests are timed
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    clock = time.perf_counter
    state = [{"next": 0, "buf": b"", "sent": 0.0, "reqs": reqs} for reqs in per_connection]
    barrier.wait(timeout=120)
    start = clock()
    for sock, st in zip(socks, state, strict=True):
        if st["reqs"]:
            st["sent"] = clock()
            sock.sendall(st["reqs"][0])
            sel.register(sock, selectors.EVENT_READ, st)
    pending = sum(1 for st in state if st["reqs"])
    while pending:
        for key, _ in sel.select(timeout=60):
            sock, st = key.fileobj, key.data
            chunk = sock.recv(65536)  # type: ignore[union-attr]
            if not chunk:
                raise ConnectionError("server closed the connection")
            st["buf"] += chunk
            while (done := _response_end(st["buf"])) is not None:
                status, total, closed = done
                latencies.append(clock() - st["sent"])
                statuses[status] = statuses.get(status, 0) + 1
                st["buf"] = st["buf"][total:]
                st["next"] += 1
                if closed or st["next"] >= len(st["reqs"]):
                    sel.unregister(sock)
                    sock.close()  # type: ignore[union-attr]
                if st["next"] >= len(st["reqs"]):
                    pending -= 1
                    break
                if closed:  # a new connection for the next request (timed: the client pays it too)
                    sock, st["buf"] = _connect(address), b""
                    sel.register(sock, selectors.EVENT_READ, st)
                st["sent"] = clock()
                sock.sendall(st["reqs"][st["next"]])  # type: ignore[union-attr]
                if closed:
                    break
    out.update(start=start, end=clock(), latencies=latencies, statuses=statuses)
    sel.close()


def client_main(conn: Any, address: tuple[str, int], barrier: Any, proc_index: int) -> None:
    """Subprocess: for each job received, run its connections (one event loop) and send the results."""
    while (job := conn.recv()) is not None:
        template: dict[str, Any] = job["template"]
        per_connection: list[list[bytes]] = []
        for t in range(job["threads"]):
            reqs = []
            for i in range(job["counts"][t]):
                tid = f"{job['tag']}_{proc_index}_{t}_{i}"
                n = proc_index * 10_000_000 + t * 100_000 + i
                body = json.dumps(bench_record(template, tid, n)).encode()
                reqs.append(request_bytes(job["path"], body, f"idem_{tid}" if job["idempotent"] else None))
            per_connection.append(reqs)
        out: dict[str, Any] = {}
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        _client_loop(address, per_connection, barrier, out)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        conn.send({"threads": [out], "cpu_s": cpu})


class Clients:
    """``procs`` client processes with ``clients`` keep-alive connections in all (threads split evenly)."""

    def __init__(self, address: tuple[str, int], clients: int, procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.clients, self.procs = clients, max(1, min(procs, clients))
        self.threads = [clients // self.procs + (p < clients % self.procs) for p in range(self.procs)]
        # keep a reference: the named semaphores vanish with the object, maybe before a child unpickles it
        self.barrier = barrier = ctx.Barrier(self.procs)  # one event loop per process
        self.pipes, self.workers = [], []
        for p in range(self.procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_main, args=(child, address, barrier, p), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.workers.append(proc)

    def run(
        self, path: str, total: int, template: dict[str, Any], tag: str, idempotent: bool
    ) -> dict[str, Any]:
        """``total`` requests spread over all connections; requests/s, latency percentiles, statuses."""
        counts = [total // self.clients + (i < total % self.clients) for i in range(self.clients)]
        at = 0
        for pipe, n in zip(self.pipes, self.threads, strict=True):
            pipe.send(
                {
                    "path": path,
                    "template": template,
                    "tag": tag,
                    "idempotent": idempotent,
                    "threads": n,
                    "counts": counts[at : at + n],
                }
            )
            at += n
        answers = [pipe.recv() for pipe in self.pipes]
        outs = [o for a in answers for o in a["threads"]]
        lat = sorted(x for o in outs for x in o["latencies"])
        statuses: dict[int, int] = {}
        for o in outs:
            for s, c in o["statuses"].items():
                statuses[s] = statuses.get(s, 0) + c
        wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
        return {
            "requests": len(lat),
            "wall_s": wall,
            "rps": len(lat) / wall,
            "p50_ms": percentile(lat, 50) * 1000,
            "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": lat[-1] * 1000,
            "statuses": statuses,
            "ok": sum(c for s, c in statuses.items() if 200 <= s < 300),
            "client_cpu_s": sum(a["cpu_s"] for a in answers),
        }

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.workers:
            proc.join(10)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def csv_rows(path: Path) -> int:
    """Data rows in the CSV (lines less the header); 0 when the file does not exist yet."""
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(0, lines - 1)


# --- the run ------------------------------------------------------------------------------------
class Report:
    """Human-readable lines to stdout (or stderr with --json, where stdout gets only the JSON)."""

    def __init__(self, to_stderr: bool) -> None:
        self.stream = sys.stderr if to_stderr else sys.stdout

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)


def workers_phase(
    args: argparse.Namespace, tmp: Path, template: dict[str, Any], say: Report
) -> dict[str, Any]:
    """Single-record POSTs to ``revenium-flow ingest`` with 1 and with ``--workers`` processes.

    Both servers run at once (an idle one costs nothing); their rounds alternate so that load from
    other jobs falls on both alike. Each ends with a check that its CSV holds every acknowledged row.
    """
    counts = (1, args.workers)
    servers = {n: IngestCommand(tmp / f"workers-{n}.csv", n, args.worker_threads) for n in counts}
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    acknowledged = dict.fromkeys(counts, 0)
    try:
        clients = {n: Clients(servers[n].address, args.clients, args.client_procs) for n in counts}
        try:
            for n in counts:
                acknowledged[n] += clients[n].run(SINGLE, args.warmup, template, f"w{n}w", False)["ok"]
            for r in range(args.rounds):
                for n in counts:
                    cpu0 = servers[n].cpu_seconds()
                    res = clients[n].run(SINGLE, args.requests, template, f"w{n}r{r}", False)
                    cpu = [b - a for a, b in zip(cpu0, servers[n].cpu_seconds(), strict=False)]
                    res["server_cpu_s"], res["process_cpu_s"] = sum(cpu), cpu
                    acknowledged[n] += res["ok"]
                    rounds[n].append(res)
                    say(
                        f"  ingest --workers {n:<2d} round {r + 1}: {res['rps']:6.0f} req/s  p50 {res['p50_ms']:5.1f} ms"
                        f"  p99 {res['p99_ms']:5.1f} ms  statuses {res['statuses']}   CPU us per request: servers "
                        f"{sum(cpu) / res['requests'] * 1e6:.0f} (per process {[round(c / res['requests'] * 1e6) for c in cpu]}),"
                        f" client {res['client_cpu_s'] / res['requests'] * 1e6:.0f}; CPU busy "
                        f"{(sum(cpu) + res['client_cpu_s']) / res['wall_s']:.2f} of {os.cpu_count()} cores"
                    )
        finally:
            for c in clients.values():
                c.close()
    finally:
        for srv in servers.values():
            srv.stop()
    out: dict[str, Any] = {}
    for n in counts:
        stored = csv_rows(tmp / f"workers-{n}.csv")
        rps = [r["rps"] for r in rounds[n]]
        out[str(n)] = {
            "rps": round(statistics.median(rps)),
            "rps_all_rounds": [round(x) for x in rps],
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rounds[n]), 2),
            "server_cpu_us": round(
                sum(r["server_cpu_s"] for r in rounds[n]) / sum(r["requests"] for r in rounds[n]) * 1e6, 1
            ),
            "client_cpu_us": round(
                sum(r["client_cpu_s"] for r in rounds[n]) / sum(r["requests"] for r in rounds[n]) * 1e6, 1
            ),
            "process_cpu_share": [
                round(
                    sum(r["process_cpu_s"][i] for r in rounds[n]) / sum(r["server_cpu_s"] for r in rounds[n]),
                    2,
                )
                for i in range(len(rounds[n][0]["process_cpu_s"]))
            ],
            "csv_rows": stored,
            "acknowledged": acknowledged[n],
            "rows_match": stored == acknowledged[n],
        }
    pairs = [b["rps"] / a["rps"] for a, b in zip(rounds[1], rounds[args.workers], strict=True)]
    out["ratio"] = round(statistics.median(pairs), 2)
    out["ratio_all_rounds"] = [round(x, 2) for x in pairs]
    # the arithmetic: N processes and the client share the cores, so N workers can at most reach
    # cores / (server + client CPU per request); one process is held to one core by the GIL
    many = out[str(args.workers)]
    per_request = (many["server_cpu_us"] + many["client_cpu_us"]) / 1e6
    out["cpu_bound_rps"] = round((os.cpu_count() or 1) / per_request) if per_request else None
    out["cpu_bound_ratio"] = (
        round(out["cpu_bound_rps"] / out["1"]["rps"], 2) if out["cpu_bound_rps"] else None
    )
    say(
        f"  CPU per request with {args.workers} workers: servers {many['server_cpu_us']:.0f} us (shares "
        f"{many['process_cpu_share']}) + client {many['client_cpu_us']:.0f} us -> at most "
        f"{out['cpu_bound_rps']} req/s on {os.cpu_count()} idle cores = {out['cpu_bound_ratio']}x the 1-worker "
        f"rate (1 worker: {out['1']['server_cpu_us']:.0f} us)"
    )
    say(
        f"{'ingest --workers ' + str(args.workers) + ' vs 1':28s} median {out[str(args.workers)]['rps']:6.0f} vs "
        f"{out['1']['rps']:6.0f} req/s: ratio {out['ratio']:.2f} (per round {out['ratio_all_rounds']})   CSV rows = "
        f"acknowledged: {'yes' if all(out[str(n)]['rows_match'] for n in counts) else 'NO, MISMATCH'}"
    )
    return out


#: (name, route, Idempotency-Key?) of the single-record phases, floors first
SINGLE_PHASES = [
    ("floor: bare WSGI 204", WSGI_NOOP, False),  # waitress closes the connection after each 204
    ("floor: Flask route 204", NOOP, False),
    ("floor: bare WSGI 200 keep-alive", WSGI_NOOP_KEEP, False),
    ("floor: Flask route 200 keep-alive", NOOP_KEEP, False),
    ("single", SINGLE, False),
    ("single + Idempotency-Key", SINGLE, True),
]
BULK_PHASES = [("bulk", False), ("bulk + Idempotency-Key", True)]


class Run:
    """One benchmark run: a server, the clients, the rows acknowledged so far and the results."""

    def __init__(
        self, args: argparse.Namespace, csv_path: Path, template: dict[str, Any], say: Report
    ) -> None:
        self.args, self.csv_path, self.template, self.say = args, csv_path, template, say
        self.acknowledged = 0
        self.all_ok = True

    def single_phase(self, server: Server, clients: Clients, phase: int) -> dict[str, Any]:
        name, path, idem = SINGLE_PHASES[phase]
        writes = path == SINGLE
        warm = clients.run(path, self.args.warmup, self.template, f"p{phase}w", idem)
        self.acknowledged += warm["ok"] if writes else 0
        rounds = []
        for r in range(self.args.rounds):
            before = server.stats()
            res = clients.run(path, self.args.requests, self.template, f"p{phase}r{r}", idem)
            after = server.stats()
            res["server_cpu_s"] = after["cpu_s"] - before["cpu_s"]
            res["writer_cpu_s"] = after["writer_cpu_s"] - before["writer_cpu_s"]
            res["fsync_batches"] = after["batches"] - before["batches"]
            if writes:
                self.acknowledged += res["ok"]
            rounds.append(res)
            self.say(
                f"  {name:26s} round {r + 1}: {res['rps']:6.0f} req/s  p50 {res['p50_ms']:5.1f} ms  "
                f"p99 {res['p99_ms']:5.1f} ms  max {res['max_ms']:6.1f} ms  statuses {res['statuses']}"
                + (f"  {res['ok'] / max(1, res['fsync_batches']):.1f} rows per fsync" if writes else "")
            )
        stored = csv_rows(self.csv_path)
        ok = stored == self.acknowledged and all(r["ok"] == r["requests"] for r in rounds)
        self.all_ok &= ok
        summary = summarize(rounds)
        summary.update(csv_rows=stored, acknowledged=self.acknowledged, rows_match=ok)
        writer = f" (writer thread {summary['writer_cpu_us']:.0f})" if writes else ""
        self.say(
            f"{name:28s} median {summary['rps']:6.0f} req/s  p50 {summary['p50_ms']:.1f} ms  "
            f"p99 {summary['p99_ms']:.1f} ms   CPU us per request: server {summary['server_cpu_us']:.0f}{writer}, "
            f"clients {summary['client_cpu_us']:.0f}   CSV rows {stored:,} = acknowledged "
            f"{self.acknowledged:,}: {'yes' if ok else 'NO, MISMATCH'}"
        )
        return summary

    def bulk_phase(self, server: Server, name: str, idem: bool) -> dict[str, Any]:
        batch, runs = self.args.batch, self.args.bulk_runs
        conn = Connection(server.address)
        times: list[float] = []
        statuses: dict[int, int] = {}
        body = b""
        before = server.stats()
        for run in range(runs + 1):  # run 0 warms up
            tag = f"bulk{int(idem)}_{run}"
            recs = [bench_record(self.template, f"{tag}_{i}", run * batch + i) for i in range(batch)]
            body = json.dumps(recs).encode()
            req = request_bytes(BATCH, body, f"idem_{tag}" if idem else None)
            t = time.perf_counter()
            status, answer = conn.exchange(req)
            elapsed = time.perf_counter() - t
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.acknowledged += json.loads(answer)["rows"]
            else:
                self.say(f"  bulk answered {status}: {answer[:300]!r}")
            if run:
                times.append(elapsed)
        after = server.stats()
        conn.close()
        stored = csv_rows(self.csv_path)
        ok = stored == self.acknowledged and statuses.get(201, 0) == runs + 1
        self.all_ok &= ok
        med = statistics.median(times)
        records = batch * (runs + 1)
        result = {
            "records": batch,
            "runs": runs,
            "median_s": round(med, 4),
            "records_per_s": round(batch / med),
            "min_s": round(min(times), 4),
            "max_s": round(max(times), 4),
            "body_mb": round(len(body) / 1e6, 2),
            "server_cpu_us_per_record": round((after["cpu_s"] - before["cpu_s"]) / records * 1e6, 1),
            "writer_cpu_us_per_record": round(
                (after["writer_cpu_s"] - before["writer_cpu_s"]) / records * 1e6, 1
            ),
            "statuses": statuses,
            "csv_rows": stored,
            "acknowledged": self.acknowledged,
            "rows_match": ok,
        }
        self.say(
            f"{name:28s} median {batch / med:6.0f} records/s  ({med * 1000:.0f} ms per {batch:,}-record POST of "
            f"{len(body) / 1e6:.1f} MB; min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f} ms)   "
            f"server CPU {result['server_cpu_us_per_record']:.0f} us per record (writer thread "
            f"{result['writer_cpu_us_per_record']:.0f})   CSV rows {stored:,} = acknowledged {self.acknowledged:,}: "
            f"{'yes' if ok else 'NO, MISMATCH'}"
        )
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000, help="single-record POSTs per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per single-record phase (median quoted)")
    ap.add_argument(
        "--warmup", type=int, default=1_000, help="untimed requests before each single-record phase"
    )
    ap.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    ap.add_argument("--client-procs", type=int, default=1, help="processes the client connections run in")
    ap.add_argument("--server-threads", type=int, default=16, help="waitress worker threads")
    ap.add_argument("--batch", type=int, default=5_000, help="records per bulk POST")
    ap.add_argument(
        "--bulk-runs", type=int, default=5, help="timed bulk POSTs per bulk phase (median quoted)"
    )
    ap.add_argument(
        "--dir", type=Path, default=None, help="directory for the temp CSV (default: system temp)"
    )
    ap.add_argument(
        "--workers", type=int, default=2, help="processes of `revenium-flow ingest` compared with 1 (0: skip)"
    )
    ap.add_argument(
        "--worker-threads", type=int, default=16, help="waitress threads per ingest process (its default)"
    )
    ap.add_argument(
        "--phases",
        default="single,bulk,workers",
        help="comma-separated phases to run: single (floors and single-record), bulk (bulk POSTs and the "
        "in-process baselines), workers (ingest --workers N vs 1); default all",
    )
    ap.add_argument("--json", action="store_true", help="human-readable lines to stderr, only JSON on stdout")
    args = ap.parse_args()
    say = Report(args.json)
    phases = set(args.phases.split(","))
    if not phases or not phases <= {"single", "bulk", "workers"}:
        ap.error(f"--phases: choose among single, bulk, workers (got {args.phases!r})")

    from tests.ingest.ingest_helpers import wire_record

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    say(
        f"machine: {cores} CPU cores, python {sys.version.split()[0]}, load average {load:.1f}; waitress "
        f"{args.server_threads} threads in its own process; {args.clients} keep-alive clients in "
        f"{args.client_procs} process(es)"
    )
    results: dict[str, Any] = {
        "cores": cores,
        "load_average_start": round(load, 2),
        "clients": args.clients,
        "client_procs": args.client_procs,
        "server_threads": args.server_threads,
        "single": {},
        "bulk": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=args.dir) as tmp:
        csv_path = Path(tmp) / "calls.csv"
        run = Run(args, csv_path, wire_record(), say)
        results["filesystem"] = filesystem_of(Path(tmp))
        say(f"CSV: {csv_path} ({results['filesystem']})")
        if phases & {"single", "bulk"}:
            server = Server(csv_path, args.server_threads)
            try:
                say(f"server process pid {server.proc.pid} on http://{server.address[0]}:{server.address[1]}")
                if "single" in phases:
                    clients = Clients(server.address, args.clients, args.client_procs)
                    try:
                        for phase, (name, _, _) in enumerate(SINGLE_PHASES):
                            results["single"][name] = run.single_phase(server, clients, phase)
                    finally:
                        clients.close()
                if "bulk" in phases:
                    for name, idem in BULK_PHASES:
                        results["bulk"][name] = run.bulk_phase(server, name, idem)
                results["server_totals"] = server.stats()
            finally:
                server.stop()
        if "bulk" in phases:
            results["bulk_baselines"] = bulk_baseline_phase(args, Path(tmp), run, say)
        if args.workers > 1 and "workers" in phases:
            results["workers"] = workers_phase(args, Path(tmp), run.template, say)
            run.all_ok &= all(v["rows_match"] for k, v in results["workers"].items() if k.isdigit())
        if csv_path.exists():  # the single and bulk phases' CSV (the workers phase checks its own)
            check = integrity(csv_path, run.acknowledged)
            run.all_ok &= check["ok"]
            results["integrity"] = check
            say(
                f"final CSV check (store reader): {check['rows']:,} rows, {check['unique_call_ids']:,} distinct "
                f"call_ids, {check['malformed']} malformed, {check['acknowledged']:,} acknowledged: "
                f"{'OK' if check['ok'] else 'PROBLEM'}"
            )

    results["load_average_end"] = round(os.getloadavg()[0], 2)
    results["goals"] = goals(results)
    results["rows_match"] = run.all_ok
    say()
    say(summary_table(results))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


def bulk_baseline_phase(args: argparse.Namespace, tmp: Path, run: Run, say: Report) -> dict[str, Any]:
    """The bulk route's work in this process, without HTTP, and ``CallStore.append`` alone."""
    base = bulk_baselines(tmp / "baseline.csv", run.template, args.batch, args.bulk_runs)
    run.all_ok &= base["rows_match"]
    say(
        f"{'bulk work without HTTP':28s} median {base['pipeline_records_per_s']:6.0f} records/s  (in this "
        f"process: json.loads, map_batch {base['map_us_per_record']:.1f} us/record, pricing, CallStore.append;"
        f" the per-record map_revenium loop + records_to_columns: {base['loop_map_us_per_record']:.1f} us/record)"
    )
    say(
        f"{'CallStore.append only':28s} median {base['append_records_per_s']:6.0f} records/s  (format + write + "
        f"fsync of ready arrays)   CSV rows {base['csv_rows']:,} = appended {base['appended']:,}: "
        f"{'yes' if base['rows_match'] else 'NO, MISMATCH'}"
    )
    return base


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds; CPU per request over all of them."""
    n = sum(r["requests"] for r in rounds)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    return {
        "rounds": len(rounds),
        "requests_per_round": rounds[0]["requests"],
        "rps": round(med("rps")),
        "p50_ms": round(med("p50_ms"), 2),
        "p99_ms": round(med("p99_ms"), 2),
        "max_ms": round(max(r["max_ms"] for r in rounds), 2),
        "rps_all_rounds": [round(r["rps"]) for r in rounds],
        "server_cpu_us": round(sum(r["server_cpu_s"] for r in rounds) / n * 1e6, 1),
        "writer_cpu_us": round(sum(r["writer_cpu_s"] for r in rounds) / n * 1e6, 1),
        "client_cpu_us": round(sum(r["client_cpu_s"] for r in rounds) / n * 1e6, 1),
        "rows_per_fsync": round(
            sum(r["ok"] for r in rounds) / max(1, sum(r["fsync_batches"] for r in rounds)), 1
        ),
    }


def bulk_baselines(path: Path, template: dict[str, Any], batch: int, runs: int) -> dict[str, Any]:
    """The bulk route's work without HTTP: (a) parse, map, price, append; (b) ``CallStore.append`` only."""
    import pyarrow as pa

    from ingest.batch_mapping import map_batch
    from ingest.mapping import map_revenium
    from ingest.writer import price_missing
    from metering.prices import load_catalog
    from metering.store import CallStore, records_to_columns

    catalog = load_catalog()
    store = CallStore(path)
    appended = 0
    pipeline, mapping, loop, append = [], [], [], []
    for run in range(runs + 1):  # run 0 warms up
        recs = [bench_record(template, f"base_{run}_{i}", run * batch + i) for i in range(batch)]
        body = json.dumps(recs).encode()
        t = time.perf_counter()
        items = json.loads(body)
        t_map = time.perf_counter()
        arrays = map_batch(items, user_agent="bench-ingest/1.0").arrays  # what the bulk route does
        t_map = time.perf_counter() - t_map
        assert arrays is not None
        arrays["cost_usd"] = pa.array(price_missing(arrays, catalog), pa.float64())
        appended += store.append(arrays)
        elapsed = time.perf_counter() - t
        # the reference mapping, record by record (what the bulk route did before map_batch)
        t_loop = time.perf_counter()
        records_to_columns([map_revenium(item, user_agent="bench-ingest/1.0").record for item in items])
        t_loop = time.perf_counter() - t_loop
        # the same rows again (other ids) through CallStore.append alone
        arrays["call_id"] = pa.array([f"{c}_again" for c in arrays["call_id"].to_pylist()])
        t = time.perf_counter()
        appended += store.append(arrays)
        if run:
            pipeline.append(elapsed)
            mapping.append(t_map)
            loop.append(t_loop)
            append.append(time.perf_counter() - t)
    stored = csv_rows(path)
    return {
        "pipeline_median_s": round(statistics.median(pipeline), 4),
        "pipeline_records_per_s": round(batch / statistics.median(pipeline)),
        "map_us_per_record": round(statistics.median(mapping) / batch * 1e6, 1),
        "loop_map_us_per_record": round(statistics.median(loop) / batch * 1e6, 1),
        "append_median_s": round(statistics.median(append), 4),
        "append_records_per_s": round(batch / statistics.median(append)),
        "csv_rows": stored,
        "appended": appended,
        "rows_match": stored == appended,
    }


def integrity(path: Path, acknowledged: int) -> dict[str, Any]:
    """Read the CSV back with the store's reader: every acknowledged row once, none malformed."""
    from metering.store import read_calls_report

    report = read_calls_report(path)
    frame = report.frame
    unique = int(frame["call_id"].nunique())
    malformed = report.malformed_count
    return {
        "rows": len(frame),
        "unique_call_ids": unique,
        "malformed": malformed,
        "acknowledged": acknowledged,
        "ok": len(frame) == unique == acknowledged and malformed == 0,
    }


def filesystem_of(path: Path) -> str:
    """Filesystem type holding ``path`` (fsync costs nothing on tmpfs: say so)."""
    try:
        import psutil

        where = str(path.resolve())
        best = max(
            (p for p in psutil.disk_partitions(all=True) if where.startswith(p.mountpoint)),
            key=lambda p: len(p.mountpoint),
        )
    except (ImportError, ValueError, OSError):  # informational only
        return "filesystem unknown"
    note = ": fsync costs nothing here, figures are optimistic" if best.fstype in ("tmpfs", "ramfs") else ""
    return f"{best.fstype} on {best.device}{note}"


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in ("single", "single + Idempotency-Key") if results["single"] else ():
        s = results["single"][name]
        rows.append(
            {
                "what": f"{name}: requests/s",
                "figure": s["rps"],
                "goal": f">= {GOAL_RPS:,.0f}",
                "met": s["rps"] >= GOAL_RPS,
            }
        )
        rows.append(
            {
                "what": f"{name}: p99 ms",
                "figure": s["p99_ms"],
                "goal": f"<= {GOAL_P99_MS:.0f}",
                "met": s["p99_ms"] <= GOAL_P99_MS,
            }
        )
    single = results["single"].get("single")
    for floor_name, label in (
        ()
        if single is None
        else (
            ("floor: Flask route 204", "single ÷ Flask 204 floor, same run"),
            ("floor: Flask route 200 keep-alive", "single ÷ Flask keep-alive floor"),
        )
    ):
        ratio = round(single["rps"] / results["single"][floor_name]["rps"], 2)
        rows.append(
            {
                "what": label,
                "figure": ratio,
                "goal": f">= {GOAL_FLOOR_RATIO}",
                "met": ratio >= GOAL_FLOOR_RATIO,
            }
        )
    if "workers" in results:
        w = results["workers"]
        rows.append(
            {
                "what": "ingest --workers N ÷ 1 process, same run",
                "figure": w["ratio"],
                "goal": f">= {GOAL_WORKERS_RATIO}",
                "met": w["ratio"] >= GOAL_WORKERS_RATIO,
            }
        )
    for name, _ in BULK_PHASES if results["bulk"] else ():
        b = results["bulk"][name]
        rows.append(
            {
                "what": f"{name}: records/s",
                "figure": b["records_per_s"],
                "goal": f">= {GOAL_BULK_RPS:,.0f}",
                "met": b["records_per_s"] >= GOAL_BULK_RPS,
            }
        )
    return rows


def summary_table(results: dict[str, Any]) -> str:
    base = results.get("bulk_baselines")
    lines = [
        f"Summary: {results['cores']} CPU cores, load average {results['load_average_start']} at start, "
        f"{results['load_average_end']} at end; medians; {results['clients']} clients in "
        f"{results['client_procs']} processes, waitress {results['server_threads']} threads; {results['filesystem']}",
        f"  {'what':40s} {'figure':>10s}  {'goal':>9s}  met",
    ]
    for g in results["goals"]:
        lines.append(f"  {g['what']:40s} {g['figure']:>10,}  {g['goal']:>9s}  {'yes' if g['met'] else 'NO'}")
    for name, _, _ in SINGLE_PHASES[:4] if results["single"] else ():
        f = results["single"][name]
        lines.append(
            f"  {'baseline, ' + name + ': req/s':40s} {f['rps']:>10,}  p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms"
        )
    if base:
        lines.append(
            f"  {'baseline, bulk work without HTTP: rec/s':40s} {base['pipeline_records_per_s']:>10,}"
        )
        lines.append(f"  {'baseline, CallStore.append only: rec/s':40s} {base['append_records_per_s']:>10,}")
    lines.append(
        f"  CSV rows = acknowledged rows after every phase: {'yes' if results['rows_match'] else 'NO'}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
