"""App sessions: a sign-in that survives a browser reload or a new tab, for a bounded time.

At sign-in the server draws a random session id (``secrets.token_urlsafe``), gives it to the
browser as a cookie (``COOKIE``) and keeps only its SHA-256 hash in the store's ``sessions`` table,
with the account, the address it came from, when it was created and last used, and two limits:

- ``idle_until``: the session ends after ``BORDERWATCH_SESSION_IDLE_MINUTES`` (default 30) without
  use; each use moves it on, written at most once per :func:`touch_every` (a sixth of the idle
  timeout, at most 5 minutes), so it may end up to that much early, never late. Every write is a
  new snapshot of the store, which also renews the layers' result cache: writing at every click of
  every user would defeat it;
- ``expires_at``: it ends ``BORDERWATCH_SESSION_HOURS`` (default 12) after the sign-in, however
  much it is used.

Signing out revokes it (every tab using it is signed out at its next interaction); disabling an
account or resetting its password revokes all of the account's sessions. A session names only the
account: nation, role and whether it is enabled are read from the account at every use.

Times here are the real clock (UTC), not ``BORDERWATCH_NOW``, which replays data at a fixed time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import secrets

import queries
from borderwatch.store import Store, default_store

COOKIE = "bw_session"
IDLE_ENV, IDLE_DEFAULT = "BORDERWATCH_SESSION_IDLE_MINUTES", 30.0
LIFETIME_ENV, LIFETIME_DEFAULT = "BORDERWATCH_SESSION_HOURS", 12.0
TOUCH_MAX = dt.timedelta(minutes=5)
PURGE_AFTER = dt.timedelta(days=7)  # ended sessions are forgotten after this (the audit log keeps them)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def limits() -> tuple[dt.timedelta, dt.timedelta]:
    """(idle timeout, absolute lifetime) of a session."""
    def number(name: str, default: float) -> float:
        try:
            return max(float(os.environ.get(name, default)), 0.1)
        except ValueError:
            return default
    return (dt.timedelta(minutes=number(IDLE_ENV, IDLE_DEFAULT)),
            dt.timedelta(hours=number(LIFETIME_ENV, LIFETIME_DEFAULT)))


def touch_every() -> dt.timedelta:
    """How often a used session's idle end is written to the store."""
    return min(limits()[0] / 6, TOUCH_MAX)


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class Session:
    account: str
    address: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    idle_until: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Check:
    """The outcome of presenting a session id: the session when it is open, else why not
    (``unknown``, ``revoked``, ``idle`` or ``expired``)."""
    session: Session | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.session is not None and not self.reason


def create(account: str, *, address: str = "", store: Store | None = None, at: dt.datetime | None = None) -> str:
    """Open a session for ``account``; returns its id (for the browser only: never stored)."""
    store = store or default_store()
    at = at or now()
    idle, lifetime = limits()
    session_id = secrets.token_urlsafe(32)
    with store.transaction():
        queries.execute("session_purge", store=store, before=at - PURGE_AFTER)
        queries.execute("session_insert", store=store, id_hash=id_hash(session_id), account=account,
                        address=address or "", at=at, idle_until=min(at + idle, at + lifetime),
                        expires_at=at + lifetime)
    return session_id


def get(session_id: str, store: Store | None = None) -> Session | None:
    if not session_id:
        return None
    rows = queries.rows("session_get", store=store or default_store(), cache=True, id_hash=id_hash(session_id))
    return Session(*rows[0]) if rows else None


def check(session_id: str, *, store: Store | None = None, at: dt.datetime | None = None,
          touch: bool = True) -> Check:
    """Is the session ``session_id`` open at ``at``? An open one is marked used (``touch``)."""
    store = store or default_store()
    at = at or now()
    session = get(session_id, store)
    if session is None:
        return Check(None, "unknown")
    if session.revoked_at is not None:
        return Check(session, "revoked")
    if at >= session.expires_at:
        return Check(session, "expired")
    if at >= session.idle_until:
        return Check(session, "idle")
    if touch and at - session.last_seen_at >= touch_every():
        idle, _ = limits()
        with store.transaction():
            queries.execute("session_touch", store=store, id_hash=id_hash(session_id), at=at, idle_until=at + idle)
    return Check(session)


def provider_sign_in_ended(issued_at, at: dt.datetime | None = None) -> bool:
    """Has an identity provider's sign-in (its ID token's ``iat``, seconds since 1970) outlived the
    session lifetime? Streamlit keeps that identity in its own cookie for 30 days; Borderwatch
    asks for a new sign-in at the provider after ``BORDERWATCH_SESSION_HOURS``. A token without a
    usable ``iat`` counts as ended."""
    try:
        issued = dt.datetime.fromtimestamp(float(issued_at), dt.timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return True
    return (at or now()) - issued >= limits()[1]


def max_age(session: Session, at: dt.datetime | None = None) -> int:
    """Seconds the browser should keep the cookie: until the session's absolute end."""
    return max(int((session.expires_at - (at or now())).total_seconds()), 0)


def revoke(session_id: str, *, store: Store | None = None, at: dt.datetime | None = None) -> None:
    store = store or default_store()
    with store.transaction():
        queries.execute("session_revoke", store=store, id_hash=id_hash(session_id), at=at or now())


def revoke_account(account: str, *, store: Store | None = None, cur=None, at: dt.datetime | None = None) -> None:
    """End every open session of ``account`` (inside the caller's transaction when ``cur`` is given)."""
    store = store or default_store()
    if cur is not None:
        queries.execute("session_revoke_account", store=store, account=account, at=at or now())
        return
    with store.transaction():
        queries.execute("session_revoke_account", store=store, account=account, at=at or now())


def open_sessions(account: str, store: Store | None = None, at: dt.datetime | None = None):
    """The account's open sessions (a DataFrame without ids or hashes)."""
    return queries.df("session_list", store=store or default_store(), account=account, at=at or now())
