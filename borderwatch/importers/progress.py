"""Progress in words: rows done of the total, the rate, and the time left (command line and page)."""
from __future__ import annotations

import time


class Rate:
    """``describe(done, total)`` -> '120,000 of 1,000,000 rows (85,000 rows/s, about 10 s left)'."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.start = clock()

    def describe(self, done: int, total: int) -> str:
        text = f"{done:,} of {total:,} rows"
        elapsed = self.clock() - self.start
        if done <= 0 or elapsed <= 0:
            return text
        per_second = done / elapsed
        text += f" ({per_second:,.0f} rows/s"
        if total > done:
            text += f", about {_duration((total - done) / per_second)} left"
        return text + ")"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"
