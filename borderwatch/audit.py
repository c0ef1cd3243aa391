"""The audit log: append-only record of sign-ins, exports, briefings, imports, user and role changes,
feed sources added, revoked or rotated and feed messages refused for their identity.

Each entry says who (account, nation, role), when (UTC), what (action, outcome, detail), from where
(address), with which filter and how many rows. Entries are only ever appended (no code path here
or in the app updates or deletes one), and each carries a SHA-256 hash over its fields and the
previous entry's hash: ``borderwatch audit verify`` finds any entry changed or removed behind the
app's back (e.g. by editing the store's files directly).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd

import queries
from borderwatch.filters import utcnow
from borderwatch.store import Store, default_store

ACTIONS = ("sign-in", "sign-out", "session-expired", "refused", "export", "briefing", "import",
           "user-added", "user-disabled", "user-enabled", "password-reset", "password-changed", "role-changed",
           "source-added", "source-revoked", "source-rotated", "source-certificate", "feed-refused",
           "alert-rule-added", "alert-rule-changed", "alert-rule-removed", "alert-raised", "alert-acknowledged",
           "alert-assigned", "alert-commented", "alert-closed", "duplicates-removed")
FIELDS = ("seq", "logged_at", "actor", "nation", "role", "action", "outcome", "address", "filter_text", "row_count",
          "detail")


def _digest(entry: dict, prev_hash: str) -> str:
    payload = {k: (entry[k].isoformat() if isinstance(entry[k], dt.datetime) else entry[k]) for k in FIELDS}
    return hashlib.sha256((prev_hash + json.dumps(payload, sort_keys=True, default=str)).encode()).hexdigest()


def record(action: str, outcome: str = "ok", *, actor: str | None = None, nation: str | None = None,
           role: str | None = None, address: str | None = None, flt=None, rows: int | None = None,
           detail: str = "", store: Store | None = None, cur=None, viewer=None) -> None:
    """Append one entry. ``viewer`` fills actor/nation/role; ``cur`` appends inside the caller's
    write transaction (else a transaction of its own)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    store = (store or default_store()).live()  # an export "as of" a past time is audited now
    if viewer is not None:
        actor, nation, role = actor or viewer.name, nation or viewer.nation, role or viewer.role
    filter_text = ""
    if flt is not None:
        from urllib.parse import urlencode

        filter_text = urlencode(flt.to_params())

    def append():
        last = queries.rows("audit_last", store=store)
        seq, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, "")
        entry = {"seq": seq, "logged_at": utcnow(), "actor": actor or "", "nation": nation or "",
                 "role": role or "", "action": action, "outcome": outcome, "address": address or "",
                 "filter_text": filter_text, "row_count": rows, "detail": detail or ""}
        queries.execute("audit_append", store=store, prev_hash=prev, hash=_digest(entry, prev), **entry)

    if cur is not None:
        append()
    else:
        with store.transaction():
            append()


def entries(store: Store | None = None, action: str = "", limit: int = 1000) -> pd.DataFrame:
    return queries.df("audit_entries", store=store or default_store(), action=action, max_rows=limit)


def failures(actor: str, address: str, since: dt.datetime, store: Store | None = None) -> tuple[int, int]:
    """Failed sign-ins since ``since``: (for this account, from this address)."""
    row = queries.rows("audit_failures", store=store or default_store(), actor=actor, address=address, since=since)[0]
    return int(row[0] or 0), int(row[1] or 0)


def verify(store: Store | None = None) -> list[str]:
    """Problems in the hash chain (empty when every entry is intact and none is missing)."""
    problems, prev, expected_seq = [], "", 1
    for row in queries.rows("audit_chain", store=store or default_store()):
        entry = dict(zip((*FIELDS, "prev_hash", "hash"), row))
        if entry["seq"] != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next is {entry['seq']})")
        if entry["prev_hash"] != prev or entry["hash"] != _digest(entry, prev):
            problems.append(f"entry {entry['seq']} ({entry['action']} by {entry['actor']}) was altered")
        prev, expected_seq = entry["hash"], entry["seq"] + 1
    return problems


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")
