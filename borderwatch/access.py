"""Who may see what: viewers, roles, releasability, and the SQL every query is limited by.

Every incident, sensor and fortification has an **owner nation** and a **releasability**: public,
or released to nations and/or agreements, or (nothing named) owner only. A viewer sees a row when

- the viewer's nation owns it, or
- it is public, or
- it names the viewer's nation, or
- it names an agreement the viewer's nation belonged to when the row was reported (an incident's
  ``occurred_at``, a sensor's or fortification's ``reported_at``; membership dates come from
  ``data/reference/agreements.json``: a year-only date counts from the following 1 January, an
  unknown date never).

Rows written without an owner or releasability (importers and feeds that set neither) default to
**owner = the reporting nation (incidents) or the nation the sensor or fortification stands in,
released to no one else**: nothing is shared that its owner did not choose to share.

``predicate(viewer, target, alias)`` turns these rules into SQL with bound ``$a_*`` parameters; the
query gateway (``queries.render``) adds it to every ``{{filter:...}}`` and ``{{access:...}}``
placeholder, so no query can compute over a row its viewer may not see. Reference data (nations,
segments, agreements) is public.

Which viewer a query runs for: ``viewing_as(viewer)`` (command line ``--as``, tests); inside the
app, the signed-in user kept in the session; otherwise the process default, which is the
unrestricted ``SYSTEM`` for the command line and ``NOBODY`` (public rows only) in the app server,
so a query that somehow runs without a signed-in user (a worker thread) fails closed.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import re
import sys
from typing import Any, Iterable, Iterator

ROLES = ("viewer", "analyst", "briefer", "importer", "admin")
# what each capability needs (roles are ordered: each has everything of the ones before it)
CAPABILITIES = {
    "live_map": "viewer",
    "analysis": "analyst",
    "data_export": "analyst",
    "briefing": "briefer",
    "import": "importer",
    "admin": "admin",  # users, agreements, audit
}
CAPABILITY_LABELS = {
    "live_map": "the live map", "analysis": "incident analysis", "data_export": "data exports",
    "briefing": "briefing exports", "import": "data imports", "admin": "administration (users, audit)",
}
TARGETS = ("incident", "sensor", "fortification")
# the column a target's owner defaults to, and the time its agreement membership is judged at
_OWNER_DEFAULT = {"incident": "reporting_nation", "sensor": "nation", "fortification": "nation"}
_REPORTED = {"incident": "occurred_at", "sensor": "reported_at", "fortification": "reported_at"}
_ISO3 = re.compile(r"^[A-Z]{3}$")
_AGREEMENT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class AccessError(PermissionError):
    """A request the viewer's role or nation does not allow, explained in one sentence."""


def role_rank(role: str) -> int:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return ROLES.index(role)


def allows(role: str, capability: str) -> bool:
    return role in ROLES and role_rank(role) >= role_rank(CAPABILITIES[capability])


# -- releasability ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Release:
    """To whom a row is released beyond its owner: everyone, or named nations and agreements."""
    public: bool = False
    nations: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, known_agreements: Iterable[str] | None = None) -> "Release":
        """``public``, ``owner`` (owner only) or a comma list of ISO3 codes and agreement ids,
        e.g. ``USA,MEX`` or ``schengen,POL``; ValueError naming the bad item otherwise."""
        items = [t.strip() for t in (text or "").split(",") if t.strip()]
        if not items:
            raise ValueError("release-to is empty: give public, owner, or nations/agreements (e.g. USA,MEX,schengen)")
        if len(items) == 1 and items[0].lower() in ("public", "owner"):
            return cls(public=items[0].lower() == "public")
        nations, agreements = [], []
        known = set(known_agreements) if known_agreements is not None else None
        for item in items:
            if item.lower() in ("public", "owner"):
                raise ValueError(f"release-to {item!r} cannot be combined with other entries")
            if _ISO3.match(item):
                nations.append(item)
            elif _AGREEMENT.match(item) and (known is None or item in known):
                agreements.append(item)
            else:
                hint = f"; known agreements: {', '.join(sorted(known))}" if known is not None else ""
                raise ValueError(f"release-to entry {item!r} is neither an ISO3 nation code (e.g. USA) "
                                 f"nor an agreement id{hint}")
        return cls(False, tuple(sorted(set(nations))), tuple(sorted(set(agreements))))

    def describe(self) -> str:
        if self.public:
            return "public"
        names = [*self.nations, *self.agreements]
        return ("REL TO " + ", ".join(names)) if names else "owner only"


def member_since(joined: str | None) -> dt.datetime | None:
    """When a member's membership counts from: the day for a full date, the next 1 January for a
    year alone (it may have joined late that year), never (None) for an unknown date."""
    if not joined:
        return None
    if re.fullmatch(r"\d{4}", joined):
        return dt.datetime(int(joined) + 1, 1, 1)
    return dt.datetime.fromisoformat(joined)


@dataclasses.dataclass(frozen=True)
class Memberships:
    """Agreement memberships with the date each counts from: ((agreement_id, iso3, since), ...)."""
    rows: tuple[tuple[str, str, dt.datetime], ...]

    @classmethod
    def load(cls, store=None) -> "Memberships":
        import queries

        rows = queries.rows("agreement_memberships", store=store, cache=True)
        return cls(tuple((a, n, since) for a, n, j in rows if (since := member_since(j)) is not None))

    def of(self, nation: str | None) -> tuple[tuple[str, dt.datetime], ...]:
        return tuple(sorted((a, since) for a, n, since in self.rows if n == nation))

    def agreements_of(self, nation: str | None, at: dt.datetime) -> list[str]:
        return sorted(a for a, since in self.of(nation) if since <= at)

    def members(self, agreement: str, at: dt.datetime) -> set[str]:
        return {n for a, n, since in self.rows if a == agreement and since <= at}


# -- viewers ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Viewer:
    """Who a query runs for. ``memberships``: (agreement_id, since) of the viewer's nation."""
    name: str
    nation: str | None
    role: str
    memberships: tuple[tuple[str, dt.datetime], ...] = ()
    unrestricted: bool = False  # the command line's own processes (no --as), auth off

    def can(self, capability: str) -> bool:
        return allows(self.role, capability)

    def require(self, capability: str) -> None:
        if not self.can(capability):
            raise AccessError(f"{self.name} ({self.role}) may not use {CAPABILITY_LABELS[capability]}: "
                              f"that needs the {CAPABILITIES[capability]} role or above")

    def label(self) -> str:
        return "everything (access control off)" if self.unrestricted else f"{self.name} · {self.nation} · {self.role}"


SYSTEM = Viewer("system", None, "admin", unrestricted=True)
NOBODY = Viewer("nobody", None, "viewer")


def viewer_for(name: str, nation: str | None, role: str, store=None, memberships: Memberships | None = None) -> Viewer:
    """A viewer with its nation's agreement memberships from the store."""
    role_rank(role)
    members = memberships or Memberships.load(store)
    return Viewer(name, nation, role, members.of(nation))


_current: contextvars.ContextVar[Viewer | None] = contextvars.ContextVar("borderwatch_viewer", default=None)
SESSION_KEY = "bw_viewer"


@contextlib.contextmanager
def viewing_as(viewer: Viewer) -> Iterator[Viewer]:
    token = _current.set(viewer)
    try:
        yield viewer
    finally:
        _current.reset(token)


def _in_app_server() -> bool:
    """Whether this process serves the app (a Streamlit runtime exists)."""
    if "streamlit" not in sys.modules:
        return False
    from streamlit import runtime

    return runtime.exists()


def current() -> Viewer:
    viewer = _current.get()
    if viewer is not None:
        return viewer
    if "streamlit" in sys.modules:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx(suppress_warning=True)
        if ctx is not None:
            found = ctx.session_state[SESSION_KEY] if SESSION_KEY in ctx.session_state else None
            return found if isinstance(found, Viewer) else NOBODY
    return NOBODY if _in_app_server() else SYSTEM


# -- SQL --------------------------------------------------------------------------------------
def predicate(viewer: Viewer, target: str, alias: str = "") -> tuple[str, dict[str, Any]]:
    """The SQL condition a ``target`` row must meet for ``viewer`` to see it, with parameters."""
    if target not in TARGETS or viewer.unrestricted:
        return "TRUE", {}  # reference data (segments, nations, agreements) is public
    col = (alias + ".") if alias else ""
    parts = [f"coalesce({col}release_public, FALSE)"]
    params: dict[str, Any] = {}
    if viewer.nation:
        params["a_nation"] = viewer.nation
        parts.append(f"coalesce({col}owner_nation, {col}{_OWNER_DEFAULT[target]}) = $a_nation")
        parts.append(f"coalesce(list_contains({col}release_nations, $a_nation), FALSE)")
        for k, (agreement, since) in enumerate(viewer.memberships):
            params[f"a_agr{k}"], params[f"a_since{k}"] = agreement, since
            parts.append(f"(coalesce(list_contains({col}release_agreements, $a_agr{k}), FALSE) "
                         f"AND {col}{_REPORTED[target]} >= $a_since{k})")
    return "(" + " OR ".join(parts) + ")", params


def visible(row: dict, target: str, viewer: Viewer) -> bool:
    """The same rule for one row in Python (used where rows are already fetched)."""
    if viewer.unrestricted or target not in TARGETS:
        return True
    if row.get("release_public"):
        return True
    if viewer.nation is None:
        return False
    owner = row.get("owner_nation") or row.get(_OWNER_DEFAULT[target])
    if owner == viewer.nation or viewer.nation in (row.get("release_nations") or ()):
        return True
    at = row.get(_REPORTED[target])
    named = set(row.get("release_agreements") or ())
    return at is not None and any(a in named and at >= since for a, since in viewer.memberships)


def release_options(store, owner: str | None, release_to: str | None) -> tuple[str | None, Release | None]:
    """``--owner`` and ``--release-to`` checked against the store's nations and agreements."""
    import queries

    nations = {code for code, _ in queries.rows("nation_names", store=store)}
    agreements = {code for code, _ in queries.rows("agreement_names", store=store)}
    if owner is not None:
        owner = owner.strip().upper()
        if owner not in nations:
            raise ValueError(f"--owner {owner!r} is not a nation in the store (ISO3, e.g. USA)")
    release = Release.parse(release_to, agreements) if release_to is not None else None
    unknown = [n for n in (release.nations if release else ()) if n not in nations]
    if unknown:
        raise ValueError(f"--release-to: {', '.join(unknown)} not a nation in the store (ISO3, e.g. USA)")
    return owner, release


def import_owner(viewer: Viewer, owner: str | None) -> str | None:
    """Who owns what ``viewer`` imports: an account of a nation imports for its nation (the default,
    and the only owner it may give), as a feed source reports for its own. Its repeats are then
    found among its own nation's rows only, so no count of an import is about a row it may not see.
    The unrestricted command line keeps ``owner`` (default: the reporting or hosting nation)."""
    if viewer.unrestricted or not viewer.nation:
        return owner
    if owner is not None and owner != viewer.nation:
        raise ValueError(f"--owner {owner}: {viewer.name} imports for {viewer.nation} only (what an account imports "
                         "is owned by its nation)")
    return viewer.nation


# -- markings ---------------------------------------------------------------------------------
def marking(base: str, flt=None, *, store=None, now: dt.datetime | None = None,
            memberships: Memberships | None = None, tables: Iterable[str] = TARGETS) -> str:
    """The marking of what ``flt`` selects for the current viewer, from the rows themselves:
    ``base`` alone when every row is public (or there are none), else ``base//REL TO`` the nations
    every included row is releasable to (owner, named nations, members of named agreements for
    all of the group's report times). ``//NO COMMON RELEASE`` when no nation may receive all."""
    import queries

    groups = queries.rows("release_groups", flt, store=store, now=now)
    members = memberships or Memberships.load(store)
    common: set[str] | None = None  # None = everyone
    for table, owner, public, nations, agreements, first_at in groups:
        if table not in tables or public:
            continue
        allowed = {owner} if owner else set()
        allowed.update(nations or ())
        for agreement in agreements or ():
            if first_at is not None:
                allowed |= members.members(agreement, first_at)
        common = allowed if common is None else common & allowed
    return combine_marking(base, common)


MARKING_ENV = "BORDERWATCH_MARKING"


def base_marking() -> str:
    """The site's classification marking (``BORDERWATCH_MARKING``, default UNCLASSIFIED)."""
    import os

    return os.environ.get(MARKING_ENV, "").strip() or "UNCLASSIFIED"


def export_marking(flt=None, *, base: str | None = None, **kw) -> str:
    """The marking of an export of ``flt`` for the current viewer (see :func:`marking`)."""
    return marking(base or base_marking(), flt, **kw)


def combine_marking(base: str, nations: set[str] | None) -> str:
    base = (base or "UNCLASSIFIED").strip()
    if nations is None:
        return base
    if not nations:
        return f"{base}//NO COMMON RELEASE"
    return f"{base}//REL TO {', '.join(sorted(nations))}"
