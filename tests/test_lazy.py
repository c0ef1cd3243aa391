"""borderwatch.lazy.cached_property: computed once per instance, and one instance's slow
computation never holds up another instance's (Python 3.11's functools version does)."""
from __future__ import annotations

import threading

from borderwatch import lazy


class Slow:
    calls = 0

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate

    @lazy.cached_property
    def value(self) -> int:
        """The documented value."""
        Slow.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10), "the other instance was never computed"
        return id(self)


def test_computed_once_per_instance():
    a, b = Slow(), Slow()
    before = Slow.calls
    assert a.value == a.value == id(a) and b.value == id(b)
    assert Slow.calls == before + 2
    assert Slow.value.__doc__ == "The documented value." and isinstance(Slow.value, lazy.cached_property)


def test_one_slow_instance_does_not_block_another():
    """While one session's map context is still computing, another's computes freely: the first
    waits (inside its getter) until the second has finished."""
    gate = threading.Event()
    first = Slow(gate)
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(first.value))
    worker.start()
    try:
        second = Slow()
        assert second.value == id(second)  # would deadlock on a class-wide lock until the timeout
    finally:
        gate.set()
        worker.join(10)
    assert seen == [id(first)]
