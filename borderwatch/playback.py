"""Time playback: the filter window cut into steps (an hour, 6 hours, a day) that the live map
steps or plays through, and that links and exports carry.

Steps are aligned on UTC boundaries (the hour, 00/06/12/18 h, midnight) so that a step means the
same period whenever a link is opened; the first and last step are clipped to the window (a
"last 24 h" window opened at 18:23 starts and ends mid-hour). A step narrows the Filter's time
window (``Filter.time_range``), so every layer, figure, impact level and export follows it.
"""
from __future__ import annotations

import datetime as dt

STEPS = {"1h": dt.timedelta(hours=1), "6h": dt.timedelta(hours=6), "1d": dt.timedelta(days=1)}
STEP_LABELS = {"1h": "hour", "6h": "6 hours", "1d": "day"}  # "previous 6 hours"
STEP_NAMES = {"1h": "1-hour", "6h": "6-hour", "1d": "1-day"}  # "a 6-hour step"
STEP_ALIGN = {"1h": "on the hour", "6h": "at 00, 06, 12 and 18 h UTC", "1d": "at midnight UTC"}
SPEEDS = (1, 2, 5)  # seconds per step while playing
DEFAULT_SPEED = 2
_EPOCH = dt.datetime(1970, 1, 1)
_TICK = dt.timedelta(microseconds=1)


def check_step(step: str) -> dt.timedelta:
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    return STEPS[step]


def floor(at: dt.datetime, step: str) -> dt.datetime:
    """The start of the aligned step holding ``at`` (naive UTC)."""
    size = check_step(step)
    return at - ((at - _EPOCH) % size)


def aligned(at: dt.datetime, step: str) -> bool:
    return floor(at, step) == at


def first_last(window: tuple[dt.datetime, dt.datetime], step: str) -> tuple[dt.datetime, dt.datetime]:
    """Aligned starts of the first and last step of the window [start, end)."""
    start, end = window
    return floor(start, step), floor(end - _TICK, step)


def count(window: tuple[dt.datetime, dt.datetime], step: str) -> int:
    """How many steps the window holds."""
    first, last = first_last(window, step)
    return (last - first) // STEPS[step] + 1


def starts(window: tuple[dt.datetime, dt.datetime], step: str) -> list[dt.datetime]:
    """Aligned start of every step of the window, oldest first."""
    first, _ = first_last(window, step)
    size = STEPS[step]
    return [first + i * size for i in range(count(window, step))]


def clamp(at: dt.datetime | None, window: tuple[dt.datetime, dt.datetime], step: str) -> dt.datetime:
    """The step start to show for ``at``: aligned, and inside the window (None: the latest step)."""
    first, last = first_last(window, step)
    if at is None:
        return last
    return min(max(floor(at, step), first), last)


def inside(at: dt.datetime, window: tuple[dt.datetime, dt.datetime], step: str) -> bool:
    first, last = first_last(window, step)
    return first <= floor(at, step) <= last


def step_range(at: dt.datetime | None, window: tuple[dt.datetime, dt.datetime], step: str
               ) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) a step narrows the window to (clipped to the window)."""
    begin = clamp(at, window, step)
    return max(window[0], begin), min(window[1], begin + STEPS[step])


def neighbour(at: dt.datetime | None, window: tuple[dt.datetime, dt.datetime], step: str, by: int = 1,
              wrap: bool = True) -> dt.datetime:
    """The step ``by`` steps after ``at`` (before, if negative); past the end it wraps to the first
    step (playing loops) unless ``wrap`` is False (then it stays at the end)."""
    first, last = first_last(window, step)
    n = count(window, step)
    index = (clamp(at, window, step) - first) // STEPS[step] + by
    index = index % n if wrap else min(max(index, 0), n - 1)
    return first + index * STEPS[step]


def label(start: dt.datetime, end: dt.datetime) -> str:
    """``2026-12-01 06:00–12:00`` or ``2026-12-01 18:00 – 12-02 00:00`` (UTC)."""
    if start.date() == end.date() or end == dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time()):
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}" if end.date() == start.date() else \
            f"{start:%Y-%m-%d %H:%M}–24:00"
    return f"{start:%Y-%m-%d %H:%M} – {end:%m-%d %H:%M}"
