"""``cached_property`` without a lock shared by every instance.

Python 3.11's ``functools.cached_property`` holds one lock per property for the whole class: while
one session's map computes ``ctx.situation`` (several queries), every other session's map waits for
it, even for its own instance. Python 3.12 removed that lock; this is the same descriptor without it.
Two threads reading the same new instance at once may both compute the value (they are pure reads
of one snapshot); the last one is kept.
"""
from __future__ import annotations


class cached_property:  # noqa: N801  (named like the descriptor it stands in for)
    def __init__(self, func):
        self.func = func
        self.__doc__ = func.__doc__
        self.name = func.__name__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
