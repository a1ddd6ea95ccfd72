"""The simulated calendar: day numbers from a start date, local time of customers, holidays.

Day ``d`` of a run covers ``[start + d days, start + d + 1 days)`` in UTC. Times are epoch
milliseconds (int64) throughout the generator.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def default_start(today: date | None = None, days_back: int = 30) -> date:
    """UTC midnight ``days_back`` days before today: the default first simulated day."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days_back)


def day_start_ms(start: date, day: int) -> int:
    """Epoch milliseconds of UTC midnight of run day ``day``."""
    return int(
        (np.datetime64(start, "D") + np.timedelta64(day, "D")).astype("datetime64[ms]").astype(np.int64)
    )


def day_of(start: date, t_ms: int) -> int:
    """The run day holding epoch millisecond ``t_ms``."""
    return int((t_ms - day_start_ms(start, 0)) // MS_PER_DAY)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def holidays(year: int) -> list[date]:
    """Days most customers take off: New Year, US Memorial/Independence/Labor/Thanksgiving, Christmas."""
    return [
        date(year, 1, 1),
        _last_weekday(year, 5, 0),
        date(year, 7, 4),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 11, 3, 4),
        _nth_weekday(year, 11, 3, 4) + timedelta(days=1),
        date(year, 12, 24),
        date(year, 12, 25),
        date(year, 12, 31),
    ]


def holiday_days(first: date, last: date) -> np.ndarray:
    """Holidays between two dates as epoch day numbers (int64), sorted."""
    days = [d for y in range(first.year, last.year + 1) for d in holidays(y) if first <= d <= last]
    return np.array(sorted(np.datetime64(d, "D").astype(np.int64) for d in days), dtype=np.int64)


def iso_ms(t_ms: int) -> str:
    """Epoch milliseconds as the store's timestamp text."""
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(t_ms))
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t_ms) % 1000:03d}Z"
