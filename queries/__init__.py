"""Named SQL queries (``queries/<name>.sql``) and the one gateway every query passes through.

A query file uses DuckDB ``$name`` parameters for values, and two kinds of placeholders that
are filled here from fixed vocabularies, never from user text:

- ``{{filter:TARGET:ALIAS}}`` (or ``{{filter_notime:...}}``): the Filter's predicate for
  ``TARGET`` rows (incident, segment, sensor, fortification) with columns qualified by ALIAS;
- ``{{access:TARGET:ALIAS}}``: only the access rule, for queries that take no user filter;
- ``{{ident:NAME}}``: an identifier (sort column, direction, grouping) chosen from ``IDENTIFIERS``.

Values from users only ever travel as bound parameters. Every filter placeholder also carries the
access rule of the current viewer (``_access_predicate``, rules in ``borderwatch/access.py``): a
filter can narrow what a viewer sees, never widen it, and every aggregate counts visible rows only.
"""
from __future__ import annotations

import datetime as dt
import functools
import pathlib
import re
import threading
from collections import OrderedDict
from typing import Any

from borderwatch import access
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store, _retry, default_store

QUERY_DIR = pathlib.Path(__file__).parent
_PLACEHOLDER = re.compile(r"\{\{(filter|filter_notime|access|ident):(\w+)(?::(\w+))?\}\}")

# identifiers a query may have substituted, by placeholder name
IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "sort": ("occurred_at", "threat_type", "severity", "confidence", "reporting_nation", "source",
             "segment_id", "incident_id"),
    "direction": ("ASC", "DESC"),
    "dimension": ("reporting_nation", "segment_id", "threat_type", "severity", "source", "nation"),
    "bucket": ("hour", "day", "week", "month"),
    "table": ("incidents", "sensors", "fortifications", "nations", "segments", "agreements",
              "agreement_members", "segment_agreements", "segment_coverage", "meta", "patrols"),
    # a row's id and the column naming its owner when owner_nation is unset (borderwatch/pglock.py)
    "id_column": ("incident_id", "sensor_id", "fortification_id"),
    "owner_fallback": ("reporting_nation", "nation"),
}


class QueryError(ValueError):
    pass


_RESERVED = {"name", "flt", "store", "now", "idents", "cache"}


@functools.lru_cache(maxsize=None)
def text(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise QueryError(f"bad query name {name!r}")
    path = QUERY_DIR / f"{name}.sql"
    if not path.exists():
        raise QueryError(f"no query named {name!r}")
    return path.read_text(encoding="utf-8")


def names() -> list[str]:
    return sorted(p.stem for p in QUERY_DIR.glob("*.sql"))


def render(name: str, flt: Filter | None = None, *, now: dt.datetime | None = None,
           idents: dict[str, str] | None = None, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The SQL text of query ``name`` with placeholders filled, and all its bound parameters."""
    flt = flt or Filter()
    now = now or utcnow()
    idents = idents or {}
    params = dict(params or {})
    clash = [k for k in params if k.startswith(("f_", "a_"))]
    if clash:
        raise QueryError(f"parameter names starting with f_ or a_ are reserved for the filter and access rules: {clash}")
    viewer = access.current()
    bound: dict[str, Any] = {}

    def fill(m: re.Match) -> str:
        kind, arg, alias = m.group(1), m.group(2), m.group(3) or ""
        if kind == "ident":
            value = idents.get(arg)
            allowed = IDENTIFIERS.get(arg, ())
            if value not in allowed:
                raise QueryError(f"{arg} must be one of {', '.join(allowed)}, not {value!r}")
            return value
        rule, aparams = _access_predicate(arg, alias, viewer)
        bound.update(aparams)
        if kind == "access":
            return f"({rule})"
        where, fparams = flt.sql(arg, alias, now=now, time=(kind == "filter"))
        bound.update(fparams)
        return f"({where}) AND ({rule})"

    sql = _PLACEHOLDER.sub(fill, text(name))
    used = set(re.findall(r"\$(\w+)", sql))
    reserved = used & _RESERVED
    if reserved:  # execute(name, flt, store=, now=, idents=) takes these names itself: never bound
        raise QueryError(f"query {name!r} declares ${', $'.join(sorted(reserved))}, a name the gateway keeps for itself")
    missing = [p for p in used if p not in bound and p not in params]
    if missing:
        raise QueryError(f"query {name!r} needs parameter(s): {', '.join(sorted(missing))}")
    bound.update({k: v for k, v in params.items() if k in used})
    return sql, bound


def _access_predicate(target: str, alias: str, viewer: "access.Viewer") -> tuple[str, dict[str, Any]]:
    """The rows of ``target`` the viewer may see; every filtered query passes through here."""
    if target not in ("incident", "segment", "sensor", "fortification"):
        raise QueryError(f"unknown access target {target!r}")
    return access.predicate(viewer, target, alias)


def execute(name: str, flt: Filter | None = None, *, store: Store | None = None,
            now: dt.datetime | None = None, idents: dict[str, str] | None = None, **params):
    """Run query ``name`` on the calling thread's cursor; returns the cursor to fetch from."""
    sql, bound = render(name, flt, now=now, idents=idents, params=params)
    cur = (store or default_store()).cursor()
    return _retry(lambda: cur.execute(sql, bound))


_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 256


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def _cached(name: str, flt: Filter | None, kw: dict, fetch):
    """``fetch(cursor)`` of query ``name``, reused while the store has no new snapshot. Every write
    (an import, a feed commit, an acknowledged alert, a revoked session) makes a new snapshot, and
    this process's own commits are seen at once (``Store.snapshot_id``), so a cached result is never
    older than the store's last commit seen by this process; other processes' commits within
    ``store.SNAPSHOT_MEMO_S``. Only for reads outside a write transaction."""
    store = kw.get("store") or default_store()
    if store.writing():
        return fetch(execute(name, flt, **kw))
    sql, bound = render(name, flt, now=kw.get("now"), idents=kw.get("idents"),
                        params={k: v for k, v in kw.items() if k not in ("store", "now", "idents")})
    key = (str(store.path), store.snapshot_id(), fetch.__name__, sql,
           tuple(sorted((k, _freeze(v)) for k, v in bound.items())))
    with _CACHE_LOCK:
        hit = _CACHE.get(key, _MISSING)
        if hit is not _MISSING:
            _CACHE.move_to_end(key)
            return hit
    result = _retry(lambda: fetch(store.cursor().execute(sql, bound)))
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


_MISSING = object()


def _frame(cur):
    return cur.fetch_df()


def _all(cur):
    return tuple(cur.fetchall())


def df(name: str, flt: Filter | None = None, *, cache: bool = False, **kw):
    """Run a query into a pandas DataFrame. ``cache=True`` reuses the result while the store has
    no new snapshot (for results that change only when data is written: shapes, coverage...)."""
    if not cache:
        return execute(name, flt, **kw).fetch_df()
    return _cached(name, flt, kw, _frame).copy()


def arrow(name: str, flt: Filter | None = None, **kw):
    return execute(name, flt, **kw).fetch_arrow_table()


def rows(name: str, flt: Filter | None = None, *, cache: bool = False, **kw) -> list[tuple]:
    """The query's rows; ``cache=True`` as for :func:`df` (page reads of small tables: the session,
    the account, agreement memberships, scenario notes, row counts)."""
    if cache:
        return list(_cached(name, flt, kw, _all))
    return execute(name, flt, **kw).fetchall()


def scalar(name: str, flt: Filter | None = None, *, cache: bool = False, **kw):
    found = rows(name, flt, cache=cache, **kw) if cache else [execute(name, flt, **kw).fetchone()]
    row = found[0] if found else None
    return row[0] if row else None
