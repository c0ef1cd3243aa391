"""Live feeds: an ingest service for Cursor-on-Target (TAK) and JSON incident reports.

``borderwatch feeds`` runs the service (CoT over TCP and UDP, JSON lines over TCP, a watched
folder); ``borderwatch simulate`` sends realistic demo traffic to it (``borderwatch.cli.feeds`` and
``borderwatch.cli.simulate``). The app reads the
service's state with ``read_status(store)`` (and a one-line badge with ``describe(status)``).
See docs/feeds.md.
"""
from __future__ import annotations

from borderwatch.feeds.status import describe, read_status  # noqa: F401  (the app's entry points)

__all__ = ["read_status", "describe"]
