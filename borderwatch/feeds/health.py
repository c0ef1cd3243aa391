"""Supervision of the service's threads: a thread whose loop raises is restarted after a short
pause; one that keeps failing (``MAX_RESTARTS`` within ``WINDOW_S``) is given up, which marks the
service failed (``borderwatch feeds`` then stops and exits non-zero). Every part's state is in the
status, so ``feeds --status`` and the live map never say "ok" while a part is down."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("borderwatch.feeds")

MAX_RESTARTS = 5
WINDOW_S = 60.0
PAUSE_S = 0.2


class Health:
    """Thread-safe states of the service's parts (listeners, journal, store writer...)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.parts: dict[str, dict] = {}
        self.failed = threading.Event()  # a part was given up: the service must stop
        self.threads: dict[str, threading.Thread] = {}

    def register(self, name: str, thread: threading.Thread) -> None:
        with self.lock:
            self.threads[name] = thread
            self.parts.setdefault(name, {"state": "ok", "restarts": 0, "last_error": None, "last_error_at": None})

    def crashed(self, name: str, exc: BaseException) -> None:
        with self.lock:
            part = self.parts.setdefault(name, {"state": "ok", "restarts": 0})
            part["restarts"] = part.get("restarts", 0) + 1
            part["last_error"] = f"{type(exc).__name__}: {exc}"[:300]
            part["last_error_at"] = time.time()
            part["state"] = "restarting"

    def running(self, name: str) -> None:
        with self.lock:
            part = self.parts.get(name)
            if part and part["state"] == "restarting":
                part["state"] = "ok"

    def give_up(self, name: str) -> None:
        with self.lock:
            self.parts.setdefault(name, {"restarts": 0, "last_error": None})["state"] = "failed"
        self.failed.set()

    def snapshot(self, stopping: bool = False) -> dict:
        """{"healthy": bool, "parts": {name: {state, restarts, last_error, alive}}}; a part whose
        thread died without being restarted counts as failed."""
        with self.lock:
            parts = {}
            for name, p in self.parts.items():
                t = self.threads.get(name)
                alive = t is None or t.is_alive()
                state = p["state"]
                if not alive and not stopping and state != "failed":
                    state = "dead"
                parts[name] = {"state": state, "restarts": p.get("restarts", 0), "last_error": p.get("last_error"),
                               "alive": alive}
        healthy = all(p["state"] == "ok" for p in parts.values())
        return {"healthy": healthy, "parts": parts}


def supervised(name: str, loop: Callable[[], None], health: Health, stopping: threading.Event | Callable[[], bool],
               *, max_restarts: int | None = None, window_s: float | None = None) -> Callable[[], None]:
    """A thread target that runs ``loop`` and restarts it when it raises, until stopped."""
    is_stopping = stopping.is_set if isinstance(stopping, threading.Event) else stopping

    def run() -> None:
        limit = MAX_RESTARTS if max_restarts is None else max_restarts
        window = WINDOW_S if window_s is None else window_s
        crashes: list[float] = []
        while True:
            try:
                loop()
                return  # a normal return: the part finished (stopping)
            except BaseException as exc:  # noqa: BLE001 - anything that escapes a loop is a crash
                if is_stopping():
                    return
                now = time.monotonic()
                crashes = [t for t in crashes if now - t < window] + [now]
                health.crashed(name, exc)
                log.error("%s crashed: %s: %s (restart %d)", name, type(exc).__name__, exc, len(crashes),
                          exc_info=exc)
                if len(crashes) > limit:
                    log.critical("%s crashed %d times within %.0f s: giving up; the service stops",
                                 name, len(crashes), window)
                    health.give_up(name)
                    return
                time.sleep(PAUSE_S * len(crashes))
                if is_stopping():
                    return
                health.running(name)

    return run
