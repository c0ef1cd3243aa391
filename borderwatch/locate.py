"""Where the map's search box flies to: a coordinate, an MGRS reference, a segment, an incident, a place.

What a user may type, tried in this order:

- a coordinate in decimal degrees (``31.76, -106.44``, ``31.76N 106.44W``) or in
  degrees-minutes-seconds (``31°45'36"N 106°29'24"W``, ``31 45 36 N, 106 29 24 W``); latitude
  comes first unless hemisphere letters say otherwise; a value out of range is refused, never
  swapped silently;
- an MGRS reference (``13RCR 5800 1400``), converted by the maintained ``mgrs`` package; the map
  zooms to its precision;
- a border segment (``MEX-USA``, ``usa–mex``): the map fits the segment;
- a nation, by name or ISO 3166 alpha-3 code (``Mexico``, ``MEX``): the map fits its largest part
  (its mainland); places of the same name follow as other matches;
- an incident id (``SCN-7-000124619``): through the query gateway, so a viewer finds only what
  it may see;
- a place name from the gazetteer ``data/reference/places.csv`` (GeoNames populated places with
  15,000 or more inhabitants, CC BY 4.0), accents optional, optionally qualified by a nation
  (``Nogales, USA``); the most populous match first.

Anything else raises ``LocateError`` with a sentence saying why.
"""
from __future__ import annotations

import csv
import functools
import math
import re
import unicodedata
from dataclasses import dataclass

import queries
from borderwatch import access
from borderwatch.reference import REFERENCE_DIR

PLACES_FILE = REFERENCE_DIR / "places.csv"
MAX_LENGTH = 120
PLACE_ZOOM = 11
INCIDENT_ZOOM = 13
COORDINATE_ZOOM = 12
# MGRS digits per axis -> zoom showing a square of that precision (100 km ... 1 m)
MGRS_ZOOM = {0: 8, 1: 11, 2: 13, 3: 15, 4: 16, 5: 16}


class LocateError(ValueError):
    """What was typed cannot be placed on the map; the message says why."""


@dataclass(frozen=True)
class Target:
    kind: str  # coordinate | mgrs | segment | nation | incident | place
    label: str
    lat: float
    lon: float
    zoom: int
    bounds: tuple[float, float, float, float] | None = None  # west, south, east, north

    def view(self) -> dict[str, str]:
        """The map view as URL parameters (the live map's ``lat``, ``lon``, ``z``)."""
        return {"lat": f"{self.lat:.5f}", "lon": f"{self.lon:.5f}", "z": str(self.zoom)}


def locate(text: str, *, store=None) -> Target:
    """The one best target for ``text``; see ``candidates`` for several place matches."""
    return candidates(text, store=store, limit=1)[0]


def candidates(text: str, *, store=None, limit: int = 8) -> list[Target]:
    query = unicodedata.normalize("NFKC", text or "").strip()
    if not query:
        raise LocateError("Type a place, a coordinate, an MGRS reference, a segment (MEX-USA) or an incident id.")
    if len(query) > MAX_LENGTH:
        raise LocateError(f"The search text is {len(query)} characters long; at most {MAX_LENGTH} are read.")
    if _looks_numeric(query):
        return [_coordinate(query)]
    mgrs_ref = _mgrs(query)
    if mgrs_ref:
        return [mgrs_ref]
    seg = _segment(query, store)
    if seg:
        return [seg]
    nation = _nation(query, store)
    inc = None if nation else _incident(query, store)
    if inc:
        return [inc]
    places = _places(query, limit - (nation is not None))
    if nation or places:
        return ([nation] if nation else []) + places
    raise LocateError(f"Nothing matches “{query}”: not a coordinate, an MGRS reference, a border segment, "
                      "a nation, an incident id or a place in the gazetteer (populated places of 15,000 or more).")


# --- coordinates -------------------------------------------------------------------------------

_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
_PART = re.compile(
    rf"""^\s*(?P<h1>[NSEW])?\s*
        (?P<deg>{_NUMBER})\s*(?:°|º|:)?\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|:)?\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|''|′′)?\s*)?
        (?P<h2>[NSEW])?\s*$""", re.X | re.I)


def _looks_numeric(query: str) -> bool:
    """Coordinates: digits, signs, separators, degree marks and hemisphere letters only."""
    compact = query.replace(" ", "")
    return (bool(re.fullmatch(r"""[\d\s.,;:+\-°º'′"″NSEWnsew]+""", query)) and bool(re.search(r"\d", query))
            and not _MGRS.match(compact.upper()))


def _split(query: str) -> tuple[str, str]:
    """The latitude and longitude parts of a coordinate, by separator or hemisphere letters."""
    if ";" in query:
        parts = query.split(";")
    elif "," in query:
        if re.search(r"\d,\d", query):
            raise LocateError(f"“{query}” uses a decimal comma; write decimals with a point and separate "
                              "latitude and longitude with a comma: 31.76, -106.44.")
        parts = query.split(",")
    else:
        m = (re.match(r"^([NSEW][^NSEW]+?)\s*([NSEW].*)$", query, re.I)       # N31.76 W106.44
             or re.match(r"^([^NSEW]+[NSEW])\s*(\S.*)$", query, re.I))        # 31.76N 106.44W
        if m:
            parts = [m.group(1), m.group(2)]
        else:
            parts = query.split()
            if len(parts) != 2:
                raise LocateError(f"“{query}” is not one coordinate pair; write it as “lat, lon” "
                                  "(31.76, -106.44) or with hemisphere letters (31°45′36″N 106°29′24″W).")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise LocateError(f"“{query}” is not one coordinate pair; write it as “lat, lon”, e.g. 31.76, -106.44.")
    return parts[0].strip(), parts[1].strip()


def _angle(part: str, whole: str) -> tuple[float, str | None]:
    m = _PART.match(part)
    if not m:
        raise LocateError(f"“{part}” in “{whole}” is not an angle in degrees or degrees-minutes-seconds.")
    if m.group("h1") and m.group("h2"):
        raise LocateError(f"“{part}” names its hemisphere twice.")
    hemi = (m.group("h1") or m.group("h2") or "").upper() or None
    deg_text = m.group("deg")
    deg = float(deg_text.replace(",", "."))
    minutes = float(m.group("min")) if m.group("min") else 0.0
    seconds = float(m.group("sec")) if m.group("sec") else 0.0
    if (m.group("min") or m.group("sec")) and deg != int(deg):
        raise LocateError(f"“{part}” has decimal degrees and minutes; use one or the other.")
    if minutes >= 60 or seconds >= 60:
        raise LocateError(f"“{part}”: minutes and seconds must be below 60.")
    value = abs(deg) + minutes / 60 + seconds / 3600
    negative = deg_text.startswith("-")
    if hemi and negative:
        raise LocateError(f"“{part}” has both a minus sign and a hemisphere letter.")
    if negative or hemi in ("S", "W"):
        value = -value
    return value, hemi


def _coordinate(query: str) -> Target:
    a, b = _split(query)
    (v1, h1), (v2, h2) = _angle(a, query), _angle(b, query)
    if h1 in ("E", "W") or h2 in ("N", "S"):
        if h1 in ("N", "S") or h2 in ("E", "W"):
            raise LocateError(f"“{query}” gives two latitudes or two longitudes.")
        v1, v2 = v2, v1  # "106.44W 31.76N": the letters say which is which
    lat, lon = v1, v2
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise LocateError(f"“{query}” is not a finite coordinate.")
    if abs(lat) > 90:
        hint = " (latitude comes first: “lat, lon”)" if abs(lon) <= 90 else ""
        raise LocateError(f"Latitude {lat:g} is outside −90…90{hint}.")
    if abs(lon) > 180:
        raise LocateError(f"Longitude {lon:g} is outside −180…180.")
    return Target("coordinate", f"{_dms(lat, 'NS')} {_dms(lon, 'EW')}", lat, lon, COORDINATE_ZOOM)


def _dms(value: float, hemis: str) -> str:
    h = hemis[0] if value >= 0 else hemis[1]
    total = round(abs(value) * 3600)
    d, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{d}°{m:02d}′{s:02d}″{h}"


# --- MGRS --------------------------------------------------------------------------------------

_MGRS = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})(\d*)$")


def _mgrs(query: str) -> Target | None:
    compact = re.sub(r"\s+", "", query).upper()
    m = _MGRS.match(compact)
    if not m:
        return None
    zone, digits = int(m.group(1)), m.group(4)
    if not 1 <= zone <= 60:
        raise LocateError(f"“{query}”: MGRS zone {zone} does not exist (1–60).")
    if len(digits) % 2 or len(digits) > 10:
        raise LocateError(f"“{query}”: an MGRS reference needs an even number of digits (up to 10), "
                          f"easting and northing of equal precision; it has {len(digits)}.")
    import mgrs

    try:  # the library gives the centre of a reference's square (the exact point at 1 m)
        lat, lon = mgrs.MGRS().toLatLon(compact)
    except Exception as exc:  # the library's own error types vary by version
        raise LocateError(f"“{query}” is not a valid MGRS reference ({exc}).") from None
    precision = len(digits) // 2
    return Target("mgrs", f"MGRS {compact}", float(lat), float(lon), MGRS_ZOOM[precision])


# --- segments and incidents --------------------------------------------------------------------

_SEGMENT = re.compile(r"^([A-Za-z]{3})\s*[-–—/]\s*([A-Za-z]{3})$")


def _segment(query: str, store) -> Target | None:
    m = _SEGMENT.match(query)
    if not m:
        return None
    a, b = sorted((m.group(1).upper(), m.group(2).upper()))
    row = queries.execute("locate_segment", store=store, segment_id=f"{a}-{b}").fetchone()
    if row is None:
        raise LocateError(f"There is no land border segment between {a} and {b}.")
    seg_id, west, south, east, north = row
    return Target("segment", f"border segment {seg_id}", (south + north) / 2, (west + east) / 2,
                  _fit_zoom(west, south, east, north), (west, south, east, north))


def _nation(query: str, store) -> Target | None:
    """A nation typed by name or alpha-3 code (not a two-letter code: too easily the start of a name)."""
    if len(query.strip()) <= 2:
        return None
    key = _fold(query)
    code = _nation_names().get(key) or {_fold(name): iso3 for iso3, name in queries.rows(
        "nation_names", store=store)}.get(key)  # the store's own names too ("Russia", not only "Russian Federation")
    if code is None:
        return None
    row = queries.execute("locate_nation", store=store, iso3=code).fetchone()
    if row is None:
        return None
    name, west, south, east, north = row
    return Target("nation", f"{name or code} ({code})", (south + north) / 2, (west + east) / 2,
                  _fit_zoom(west, south, east, north), (west, south, east, north))


def _fit_zoom(west: float, south: float, east: float, north: float) -> int:
    span = max(east - west, (north - south) * 1.5, 1e-3)
    return int(max(2, min(12, math.floor(math.log2(360 / span)) + 1)))


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{2,79}$")


def _incident(query: str, store) -> Target | None:
    if not _ID.match(query) or not re.search(r"\d", query):
        return None
    row = queries.execute("locate_incident", store=store, incident_id=query,
                          viewer_nation=access.current().nation).fetchone()  # its own row first
    if row is None:
        return None
    incident_id, lat, lon, occurred = row
    return Target("incident", f"incident {incident_id} ({occurred:%Y-%m-%d %H:%M} UTC)", lat, lon, INCIDENT_ZOOM)


# --- places ------------------------------------------------------------------------------------

def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold().strip()


@functools.lru_cache(maxsize=1)
def _gazetteer() -> tuple[list[tuple[str, float, float, str, int]], dict[str, list[int]]]:
    """Places (largest first) and an index from folded name to their rows."""
    places: list[tuple[str, float, float, str, int]] = []
    index: dict[str, list[int]] = {}
    with PLACES_FILE.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            places.append((row["name"], float(row["lat"]), float(row["lon"]), row["iso3"], int(row["population"])))
            for key in {_fold(row["name"]), _fold(row["ascii_name"])}:
                index.setdefault(key, []).append(i)
    return places, index


@functools.lru_cache(maxsize=1)
def _nation_names() -> dict[str, str]:
    """Folded nation name or code -> ISO3, for qualifiers like “Nogales, Mexico”."""
    import pycountry

    names: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("alpha_3", "alpha_2", "name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                names[_fold(value)] = c.alpha_3
    names.setdefault("kosovo", "XKX")
    names.setdefault("xkx", "XKX")
    return names


def _places(query: str, limit: int) -> list[Target]:
    places, index = _gazetteer()
    name, nation = query, None
    if "," in query:
        head, tail = query.rsplit(",", 1)
        code = _nation_names().get(_fold(tail))
        if code is None:
            raise LocateError(f"“{tail.strip()}” after the comma is not a nation name or ISO code.")
        name, nation = head, code
    key = _fold(name)
    if not key:
        return []
    rows = index.get(key, [])
    if not rows:  # a prefix: "ciudad ju" finds Ciudad Juárez
        rows = sorted({i for k, ids in index.items() if k.startswith(key) for i in ids})
    found = [places[i] for i in sorted(rows) if nation is None or places[i][3] == nation]
    return [Target("place", f"{n}, {iso} (population {pop:,})", lat, lon, PLACE_ZOOM)
            for n, lat, lon, iso, pop in found[:limit]]
