"""A stop flag set by SIGINT/SIGTERM: installed first thing by ``generate`` (before heavy imports)."""

from __future__ import annotations

import signal


class StopFlag:
    """SIGINT/SIGTERM set the flag (no exception); the run checks it between steps."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def install(self) -> StopFlag:
        for s in self.SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return self

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)  # type: ignore[arg-type]
        self._old.clear()

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def __bool__(self) -> bool:
        return self.signum is not None
