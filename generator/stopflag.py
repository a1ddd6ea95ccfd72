"""A stop flag set by SIGINT/SIGTERM: installed first thing by ``generate`` (before heavy imports)."""

from __future__ import annotations

import signal


class StopFlag:
    """SIGINT/SIGTERM set the flag (no exception); the run checks it between steps.

    With ``exit_early`` (the CLI), a signal that arrives before ``hold()`` — while the run is still
    importing and reading, before it has written anything — exits at once with 128 + signal.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, exit_early: bool = False) -> None:
        self.signum: int | None = None
        self.exit_early = exit_early
        self._old: dict[int, object] = {}

    def hold(self) -> None:
        """From now on only set the flag: the run is about to write and will stop on whole lines."""
        self.exit_early = False

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
        if self.exit_early:
            raise SystemExit(128 + signum)

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def __bool__(self) -> bool:
        return self.signum is not None
