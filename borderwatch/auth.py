"""Identities: local accounts (Argon2id), sign-in with throttling, trusted SSO header, OIDC.

How the app signs people in is chosen by ``BORDERWATCH_AUTH``:

- ``local`` (default): accounts in the store (``borderwatch users add NAME --nation USA --role analyst``),
  passwords hashed with Argon2id (argon2-cffi); a new or reset account gets a one-time password
  that must be changed at the first sign-in; failed sign-ins are throttled per account and per
  address (``MAX_FAILURES_ACCOUNT`` / ``MAX_FAILURES_ADDRESS`` within ``THROTTLE_WINDOW``, counted
  from the audit log, so across processes and restarts); a sign-in opens a session
  (``borderwatch/sessions.py``: a cookie in the browser, its hash in the store) that survives a
  reload and ends after ``BORDERWATCH_SESSION_IDLE_MINUTES`` without activity or
  ``BORDERWATCH_SESSION_HOURS`` in all, or at sign-out;
- ``header``: a single-sign-on reverse proxy names the user in ``BORDERWATCH_AUTH_HEADER``
  (default ``X-Forwarded-User``), accepted only on connections from ``BORDERWATCH_AUTH_PROXIES``
  (comma-separated addresses or networks; default ``127.0.0.1,::1``); the account (nation, role)
  must exist locally;
- ``oidc``: Streamlit's ``st.login`` with the provider configured in ``.streamlit/secrets.toml``;
  the identity's e-mail (or subject) must be a local account name;
- ``off``: no sign-in, everything visible, for a single-user laptop; every page says so.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import pathlib
import re
import secrets

import queries
from borderwatch import access, audit, sessions
from borderwatch.filters import utcnow
from borderwatch.store import REPO_ROOT, Store, default_store

MODES = ("local", "header", "oidc", "off")
AUTH_ENV = "BORDERWATCH_AUTH"
HEADER_ENV, DEFAULT_HEADER = "BORDERWATCH_AUTH_HEADER", "X-Forwarded-User"
PROXIES_ENV, DEFAULT_PROXIES = "BORDERWATCH_AUTH_PROXIES", "127.0.0.1,::1"
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_ACCOUNT = 5
MAX_FAILURES_ADDRESS = 20
MIN_PASSWORD = 12
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DEMO_ACCOUNTS_FILE = REPO_ROOT / "var" / "demo-accounts.txt"
# demo accounts `make run` creates: a few nations and every role
DEMO_ACCOUNTS = (("admin", "USA", "admin"), ("usa-analyst", "USA", "analyst"), ("mex-analyst", "MEX", "analyst"),
                 ("pol-briefer", "POL", "briefer"), ("deu-viewer", "DEU", "viewer"), ("esp-importer", "ESP", "importer"))


class AuthError(ValueError):
    """Bad account input or a refused sign-in, explained in one sentence."""


def mode() -> str:
    value = os.environ.get(AUTH_ENV, "local").strip().lower() or "local"
    if value not in MODES:
        raise AuthError(f"{AUTH_ENV} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def session_limits() -> tuple[dt.timedelta, dt.timedelta]:
    """(idle timeout, absolute lifetime) of an app session (``borderwatch/sessions.py``)."""
    return sessions.limits()


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


# -- accounts ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    nation: str
    role: str
    password_hash: str
    must_change: bool
    disabled: bool


def get(name: str, store: Store | None = None) -> Account | None:
    rows = queries.rows("user_get", store=store or default_store(), cache=True, account=name)
    if not rows:
        return None
    n, nation, role, ph, must, disabled, *_ = rows[0]
    return Account(n, nation, role, ph, bool(must), bool(disabled))


def list_users(store: Store | None = None):
    return queries.df("user_list", store=store or default_store())


def _check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise AuthError(f"account name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-' "
                        "(starting with a letter or digit)")


def _check_nation(nation: str, store: Store) -> str:
    nation = (nation or "").upper()
    if not re.fullmatch(r"[A-Z]{3}", nation) or not queries.scalar("nation_exists", store=store, iso3=nation):
        raise AuthError(f"nation {nation!r} is not a nation in the store (ISO 3166-1 alpha-3, e.g. USA)")
    return nation


def _check_role(role: str) -> str:
    if role not in access.ROLES:
        raise AuthError(f"role must be one of {', '.join(access.ROLES)}, not {role!r}")
    return role


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")


def add_user(name: str, nation: str, role: str, *, by: str = "system", store: Store | None = None,
             address: str = "") -> str:
    """Create an account; returns its one-time password (to be changed at first sign-in)."""
    store = store or default_store()
    _check_name(name)
    nation, role = _check_nation(nation, store), _check_role(role)
    password = one_time_password()
    with store.transaction() as cur:
        if queries.rows("user_get", store=store, account=name):
            raise AuthError(f"an account named {name!r} exists already")
        queries.execute("user_insert", store=store, account=name, nation=nation, role=role,
                        password_hash=hash_password(password), must_change=True, at=utcnow())
        audit.record("user-added", actor=by, address=address, detail=f"{name} ({nation}, {role})", store=store, cur=cur)
    return password


def _existing(name: str, store: Store) -> Account:
    account = get(name, store)
    if account is None:
        raise AuthError(f"no account named {name!r}")
    return account


def reset_password(name: str, *, by: str = "system", store: Store | None = None, address: str = "") -> str:
    """A new one-time password for ``name`` (the old one stops working)."""
    store = store or default_store()
    _existing(name, store)
    password = one_time_password()
    with store.transaction() as cur:
        queries.execute("user_set_password", store=store, account=name, password_hash=hash_password(password),
                        must_change=True, at=utcnow())
        sessions.revoke_account(name, store=store, cur=cur)  # whoever held the old password is signed out
        audit.record("password-reset", actor=by, address=address, detail=name, store=store, cur=cur)
    return password


def change_password(name: str, new_password: str, *, store: Store | None = None, address: str = "") -> None:
    store = store or default_store()
    _existing(name, store)
    _check_password(new_password)
    with store.transaction() as cur:
        queries.execute("user_set_password", store=store, account=name, password_hash=hash_password(new_password),
                        must_change=False, at=utcnow())
        audit.record("password-changed", actor=name, address=address, detail=name, store=store, cur=cur)


def set_disabled(name: str, disabled: bool, *, by: str = "system", store: Store | None = None, address: str = "") -> None:
    store = store or default_store()
    _existing(name, store)
    with store.transaction() as cur:
        queries.execute("user_set_disabled", store=store, account=name, disabled=disabled, at=utcnow())
        if disabled:
            sessions.revoke_account(name, store=store, cur=cur)  # re-enabling does not reopen them
        audit.record("user-disabled" if disabled else "user-enabled", actor=by, address=address, detail=name,
                     store=store, cur=cur)


def set_role(name: str, role: str, nation: str | None = None, *, by: str = "system", store: Store | None = None,
             address: str = "") -> None:
    store = store or default_store()
    account = _existing(name, store)
    role = _check_role(role)
    nation = _check_nation(nation, store) if nation else account.nation
    with store.transaction() as cur:
        queries.execute("user_set_role", store=store, account=name, role=role, nation=nation, at=utcnow())
        audit.record("role-changed", actor=by, address=address,
                     detail=f"{name}: {account.nation} {account.role} -> {nation} {role}", store=store, cur=cur)


def end_sessions(name: str, *, by: str = "system", store: Store | None = None, address: str = "") -> int:
    """Sign ``name`` out everywhere (e.g. a lost laptop): every open session is revoked, each
    browser is asked to sign in again at its next interaction. Returns how many were open."""
    store = store or default_store()
    _existing(name, store)
    count = len(sessions.open_sessions(name, store))
    with store.transaction() as cur:
        sessions.revoke_account(name, store=store, cur=cur)
        audit.record("sign-out", actor=by, address=address, detail=f"every session of {name} ({count} open)",
                     store=store, cur=cur)
    return count


# -- signing in ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SignIn:
    viewer: access.Viewer | None
    must_change: bool = False
    message: str = ""


def viewer_of(account: Account, store: Store | None = None) -> access.Viewer:
    return access.viewer_for(account.name, account.nation, account.role, store)


def authenticate(name: str, password: str, address: str = "", *, store: Store | None = None) -> SignIn:
    """Check a local sign-in; every attempt is audited. Refusals say little on purpose (no hint
    whether the account exists), except throttling, which says when to try again."""
    from argon2.exceptions import InvalidHashError, VerificationError

    store = store or default_store()
    name = (name or "").strip()
    by_account, by_address = audit.failures(name, address, utcnow() - THROTTLE_WINDOW, store)
    if by_account >= MAX_FAILURES_ACCOUNT or by_address >= MAX_FAILURES_ADDRESS:
        audit.record("sign-in", "refused", actor=name, address=address, detail="throttled", store=store)
        return SignIn(None, message=f"Too many failed sign-ins for this account or address; wait "
                                    f"{int(THROTTLE_WINDOW.total_seconds() // 60)} minutes and try again.")
    account = get(name, store) if NAME_RE.match(name) else None
    reason = ""
    if account is None:
        reason = "unknown account"
    elif account.disabled:
        reason = "account disabled"
    else:
        try:
            _hasher().verify(account.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            reason = "wrong password"
    if reason:
        audit.record("sign-in", "refused", actor=name, nation=account.nation if account else None,
                     role=account.role if account else None, address=address, detail=reason, store=store)
        return SignIn(None, message="Wrong account name or password, or the account is disabled.")
    audit.record("sign-in", "ok", actor=account.name, nation=account.nation, role=account.role, address=address,
                 detail="local" + (" (one-time password)" if account.must_change else ""), store=store)
    return SignIn(viewer_of(account, store), must_change=account.must_change)


def current_viewer(name: str, store: Store | None = None) -> access.Viewer | None:
    """The viewer of a signed-in account now (None if it was removed or disabled meanwhile):
    role and nation changes apply at the next interaction."""
    account = get(name, store)
    return None if account is None or account.disabled else viewer_of(account, store)


def proxies() -> list:
    nets = []
    for item in os.environ.get(PROXIES_ENV, DEFAULT_PROXIES).split(","):
        item = item.strip()
        if item:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise AuthError(f"{PROXIES_ENV}: {item!r} is not an address or network") from None
    return nets


def header_name() -> str:
    return os.environ.get(HEADER_ENV, DEFAULT_HEADER).strip() or DEFAULT_HEADER


def from_header(headers, address: str | None, *, store: Store | None = None) -> SignIn:
    """Sign-in from a trusted proxy's header: accepted only from a configured proxy address."""
    store = store or default_store()
    header = header_name()
    name = (headers.get(header) or "").strip() if headers is not None else ""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        ip = None
    if ip is None or not any(ip in net for net in proxies()):
        audit.record("sign-in", "refused", actor=name, address=address or "",
                     detail=f"header {header} from an address that is not a configured proxy", store=store)
        return SignIn(None, message=f"This server accepts sign-in only through its single-sign-on proxy "
                                    f"(connection from {address or 'an unknown address'} refused).")
    account = get(name, store) if NAME_RE.match(name) else None
    if account is None or account.disabled:
        audit.record("sign-in", "refused", actor=name, address=address or "",
                     detail="header names no enabled account" if name else f"no {header} header", store=store)
        return SignIn(None, message=f"No enabled Borderwatch account for {name or 'this identity'}: "
                                    "ask an administrator (borderwatch users add).")
    return SignIn(viewer_of(account, store))


# -- demo accounts (make run) -----------------------------------------------------------------------
def demo_accounts(store: Store | None = None, path: pathlib.Path = DEMO_ACCOUNTS_FILE) -> tuple[pathlib.Path, list[str]]:
    """Create the demo accounts that are missing; their one-time passwords go to ``path`` (0600)."""
    store = store or default_store()
    created = []
    lines = []
    for name, nation, role in DEMO_ACCOUNTS:
        if get(name, store) is None:
            lines.append(f"{name}\t{add_user(name, nation, role, by='demo setup', store=store)}\t{nation}\t{role}")
            created.append(name)
    if lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "" if path.exists() else ("# Borderwatch demo accounts: name, one-time password (change it at first "
                                           "sign-in), nation, role\n")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(header + "\n".join(lines) + "\n")
    return path, created
