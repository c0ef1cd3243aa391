"""What the store tests share: adding incidents by name, and running the command line on a store."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pandas as pd

from borderwatch import incident_store
from borderwatch.store import Store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = dt.datetime(2026, 10, 1, 12, 0)


def add_incidents(store: Store, name: str, n: int, start: int = 0, when: dt.datetime = T0) -> int:
    rows = [{"incident_id": f"{name}-{k}", "occurred_at": when + dt.timedelta(minutes=k), "threat_type": "smuggling",
             "lon": 23.5 + (k % 50) * 0.01, "lat": 41.3, "description": name} for k in range(start, start + n)]
    return incident_store.insert_incidents(store, incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset=name))


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})), cwd=ROOT)
