"""Cross-border cooperation agreements: a curated, sourced reference table.

The data lives in ``data/reference/agreements.json`` (see :data:`AGREEMENTS_FILE`).
Nations are ISO 3166-1 alpha-3 codes as known to :mod:`pycountry`, plus ``XKX``
for Kosovo, which has no ISO code of its own.

Dates are ISO strings: ``YYYY-MM-DD`` where the day is known, ``YYYY`` where only
the year is, and a member's ``joined`` may be ``null`` when even that is unsure.
They are kept as strings so that a partial date never turns into an invented day.

:func:`validate` checks a parsed document and returns every problem it finds;
:func:`load_agreements` refuses to load a file that has any.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pycountry

AGREEMENTS_FILE = Path(__file__).resolve().parent.parent / "data" / "reference" / "agreements.json"

SCHEMA_VERSION = 1

KINDS = frozenset({"multilateral", "bilateral"})

PROVISIONS = frozenset({
    "information_sharing",
    "joint_patrols",
    "joint_training",
    "technology_exchange",
    "liaison_officers",
    "free_movement",
    "common_external_border",
    "readmission",
    "customs_cooperation",
    "hot_pursuit",
})

#: Codes accepted in addition to pycountry's ISO 3166-1 list.
EXTRA_ISO3 = {"XKX": "Kosovo"}

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})-(\d{2}))?$")
_ISO3_RE = re.compile(r"^[A-Z]{3}$")

_TOP_FIELDS = {"schema_version", "as_of", "agreements"}
_AGREEMENT_FIELDS = {"agreement_id", "name", "kind", "signed", "provisions", "description",
                     "sources", "members"}
_SOURCE_FIELDS = {"title", "url"}
_MEMBER_FIELDS = {"iso3", "joined"}


@dataclass(frozen=True)
class Member:
    iso3: str
    joined: str | None


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    name: str
    kind: str
    signed: str
    provisions: tuple[str, ...]
    description: str
    sources: tuple[Source, ...]
    members: tuple[Member, ...]

    @property
    def member_codes(self) -> frozenset[str]:
        return frozenset(m.iso3 for m in self.members)


# --------------------------------------------------------------------------- validation

def is_known_iso3(code: object) -> bool:
    """True for an upper-case ISO 3166-1 alpha-3 code pycountry knows, or ``XKX``."""
    if not isinstance(code, str) or not _ISO3_RE.match(code):
        return False
    return code in EXTRA_ISO3 or pycountry.countries.get(alpha_3=code) is not None


def _date_problem(value: object) -> str | None:
    """Why ``value`` is not a ``YYYY`` or ``YYYY-MM-DD`` string, or None if it is one."""
    if not isinstance(value, str):
        return f"must be a string 'YYYY-MM-DD' or 'YYYY', got {type(value).__name__} {value!r}"
    match = _DATE_RE.match(value)
    if not match:
        return f"{value!r} is not in the form 'YYYY-MM-DD' or 'YYYY'"
    if int(match.group(1)) < 1000:
        return f"{value!r} has an implausible year"
    if match.group(2) is not None:
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            return f"{value!r} is not a real calendar date"
    return None


def _after(value: str, limit: str) -> bool:
    """Whether the (possibly partial) date ``value`` lies after the full date ``limit``."""
    if len(value) == 4:
        return int(value) > int(limit[:4])
    return value > limit


def _is_https_url(url: str) -> bool:
    return bool(re.match(r"^https://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$", url))


def validate(document: Any) -> list[str]:
    """Check a parsed agreements document; return one message per problem (empty if valid).

    Each message names the agreement (id and position), the member or source index where
    relevant, the field, and what is wrong with it.
    """
    errors: list[str] = []
    if not isinstance(document, Mapping):
        return [f"document: must be a JSON object, got {type(document).__name__}"]

    for key in sorted(set(document) - _TOP_FIELDS):
        errors.append(f"document: unexpected field {key!r}")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        errors.append(f"document field 'schema_version': must be {SCHEMA_VERSION}, got {version!r}")

    as_of = document.get("as_of")
    as_of_ok = False
    if "as_of" not in document:
        errors.append("document field 'as_of': missing")
    else:
        why = _date_problem(as_of)
        if why is None and len(as_of) != 10:
            why = f"{as_of!r} must be a full date 'YYYY-MM-DD'"
        if why:
            errors.append(f"document field 'as_of': bad date: {why}")
        else:
            as_of_ok = True

    agreements = document.get("agreements")
    if not isinstance(agreements, list):
        errors.append(f"document field 'agreements': must be a list, got {type(agreements).__name__}")
        return errors
    if not agreements:
        errors.append("document field 'agreements': empty")

    seen_ids: dict[str, int] = {}
    for index, agreement in enumerate(agreements):
        errors.extend(_validate_agreement(index, agreement, seen_ids, as_of if as_of_ok else None))
    return errors


def _validate_agreement(index: int, agreement: Any, seen_ids: dict[str, int],
                        as_of: str | None) -> list[str]:
    errors: list[str] = []
    if not isinstance(agreement, Mapping):
        return [f"agreement #{index}: must be an object, got {type(agreement).__name__}"]

    aid = agreement.get("agreement_id")
    where = f"agreement {aid!r} (#{index})" if isinstance(aid, str) and aid else f"agreement #{index}"

    def err(field: str, why: str) -> None:
        errors.append(f"{where} field {field!r}: {why}")

    for key in sorted(set(agreement) - _AGREEMENT_FIELDS):
        err(key, "unexpected field")
    for key in sorted(_AGREEMENT_FIELDS - set(agreement)):
        err(key, "missing")

    if "agreement_id" in agreement:
        if not isinstance(aid, str) or not _ID_RE.match(aid):
            err("agreement_id", f"must be a lower-case slug such as 'us-mex', got {aid!r}")
        elif aid in seen_ids:
            err("agreement_id", f"duplicate agreement id {aid!r} (first used by agreement #{seen_ids[aid]})")
        else:
            seen_ids[aid] = index

    for field in ("name", "description"):
        if field in agreement:
            value = agreement[field]
            if not isinstance(value, str) or not value.strip():
                err(field, f"must be a non-empty string, got {value!r}")

    kind = agreement.get("kind")
    if "kind" in agreement and kind not in KINDS:
        err("kind", f"must be one of {sorted(KINDS)}, got {kind!r}")

    if "signed" in agreement:
        why = _date_problem(agreement["signed"])
        if why:
            err("signed", f"bad date: {why}")
        elif as_of and _after(agreement["signed"], as_of):
            err("signed", f"bad date: {agreement['signed']!r} is after as_of {as_of!r}")

    if "provisions" in agreement:
        provisions = agreement["provisions"]
        if not isinstance(provisions, list) or not provisions:
            err("provisions", f"must be a non-empty list, got {provisions!r}")
        else:
            seen: set[str] = set()
            for p_index, provision in enumerate(provisions):
                if not isinstance(provision, str) or provision not in PROVISIONS:
                    err(f"provisions[{p_index}]",
                        f"{provision!r} is not in the provisions vocabulary {sorted(PROVISIONS)}")
                elif provision in seen:
                    err(f"provisions[{p_index}]", f"duplicate provision {provision!r}")
                else:
                    seen.add(provision)

    if "sources" in agreement:
        errors.extend(_validate_sources(where, agreement["sources"]))

    if "members" in agreement:
        errors.extend(_validate_members(where, kind, agreement["members"], as_of))
    return errors


def _validate_sources(where: str, sources: Any) -> list[str]:
    if not isinstance(sources, list) or not sources:
        return [f"{where} field 'sources': missing sources: at least one {{title, url}} is required, "
                f"got {sources!r}"]
    errors = []
    for s_index, source in enumerate(sources):
        at = f"{where} source {s_index}"
        if not isinstance(source, Mapping):
            errors.append(f"{at}: must be an object with 'title' and 'url', got {source!r}")
            continue
        for key in sorted(set(source) - _SOURCE_FIELDS):
            errors.append(f"{at} field {key!r}: unexpected field")
        title = source.get("title")
        if not isinstance(title, str) or not title.strip():
            errors.append(f"{at} field 'title': must be a non-empty string, got {title!r}")
        url = source.get("url")
        if not isinstance(url, str) or not _is_https_url(url):
            errors.append(f"{at} field 'url': must be an https:// URL, got {url!r}")
    return errors


def _validate_members(where: str, kind: Any, members: Any, as_of: str | None) -> list[str]:
    if not isinstance(members, list) or not members:
        return [f"{where} field 'members': must be a non-empty list, got {members!r}"]
    errors = []
    seen: dict[str, int] = {}
    for m_index, member in enumerate(members):
        at = f"{where} member {m_index}"
        if not isinstance(member, Mapping):
            errors.append(f"{at}: must be an object with 'iso3' and 'joined', got {member!r}")
            continue
        for key in sorted(set(member) - _MEMBER_FIELDS):
            errors.append(f"{at} field {key!r}: unexpected field")
        iso3 = member.get("iso3")
        if "iso3" not in member:
            errors.append(f"{at} field 'iso3': missing")
        elif not is_known_iso3(iso3):
            errors.append(f"{at} field 'iso3': unknown ISO 3166-1 alpha-3 code {iso3!r}")
        elif iso3 in seen:
            errors.append(f"{at} field 'iso3': duplicate member {iso3!r} (also member {seen[iso3]})")
        else:
            seen[iso3] = m_index
        if "joined" not in member:
            errors.append(f"{at} field 'joined': missing (use null when unknown)")
        elif member["joined"] is not None:
            why = _date_problem(member["joined"])
            if why:
                errors.append(f"{at} field 'joined': bad date: {why}")
            elif as_of and _after(member["joined"], as_of):
                errors.append(f"{at} field 'joined': bad date: {member['joined']!r} is after as_of {as_of!r}")
    if kind == "bilateral" and len(members) != 2:
        errors.append(f"{where} field 'members': a bilateral agreement needs exactly 2 members, "
                      f"got {len(members)}")
    return errors


# --------------------------------------------------------------------------- loading

def _build(agreement: Mapping[str, Any]) -> Agreement:
    return Agreement(
        agreement_id=agreement["agreement_id"],
        name=agreement["name"],
        kind=agreement["kind"],
        signed=agreement["signed"],
        provisions=tuple(agreement["provisions"]),
        description=agreement["description"],
        sources=tuple(Source(s["title"], s["url"]) for s in agreement["sources"]),
        members=tuple(Member(m["iso3"], m["joined"]) for m in agreement["members"]),
    )


def load_agreements(path: str | Path | None = None) -> list[Agreement]:
    """Read, validate and return the agreements; raise ValueError listing every problem."""
    path = Path(path) if path is not None else AGREEMENTS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: not valid JSON: {exc}") from exc
    errors = validate(document)
    if errors:
        listing = "\n".join(f"  - {e}" for e in errors)
        raise ValueError(f"{path.name}: {len(errors)} problem(s):\n{listing}")
    return [_build(a) for a in document["agreements"]]


def agreements_frame(agreements: Iterable[Agreement] | None = None) -> pd.DataFrame:
    """One row per agreement; provisions and source URLs are joined with '; '."""
    agreements = load_agreements() if agreements is None else list(agreements)
    columns = ["agreement_id", "name", "kind", "signed", "provisions", "member_count",
               "description", "sources"]
    rows = [
        {
            "agreement_id": a.agreement_id,
            "name": a.name,
            "kind": a.kind,
            "signed": a.signed,
            "provisions": "; ".join(a.provisions),
            "member_count": len(a.members),
            "description": a.description,
            "sources": "; ".join(s.url for s in a.sources),
        }
        for a in agreements
    ]
    return pd.DataFrame(rows, columns=columns)


def members_frame(agreements: Iterable[Agreement] | None = None) -> pd.DataFrame:
    """One row per (agreement, member): agreement_id, iso3, joined (string, or None if unknown)."""
    agreements = load_agreements() if agreements is None else list(agreements)
    records = [(a.agreement_id, m.iso3, m.joined) for a in agreements for m in a.members]
    # object dtype keeps a missing join date as None rather than NaN.
    return pd.DataFrame({
        "agreement_id": pd.Series([r[0] for r in records], dtype=object),
        "iso3": pd.Series([r[1] for r in records], dtype=object),
        "joined": pd.Series([r[2] for r in records], dtype=object),
    })
