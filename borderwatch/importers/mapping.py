"""Which column of a file feeds which Borderwatch field: automatic mapping of common names
(case-insensitive), explicit mappings, constants, and presets for ACLED and IOM Missing Migrants
exports. The tables here are the ones documented in ``docs/import.md``."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import pandas as pd

from borderwatch.importers.values import _text, norm_word, vocabulary

LAYERS = ("borders", "fortifications", "sensors", "incidents")


def norm_column(name: str) -> str:
    """'Location Coordinates' -> 'location_coordinates'; 'addr:city' -> 'addr_city'."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


# Geometry fields of tables without a geometry column (CSV, plain Parquet).
GEOMETRY_TARGETS: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "lng", "long", "longitude", "x", "x_coord", "lon_dd", "longitude_dd", "decimal_longitude",
            "decimallongitude", "point_x", "easting"),
    "lat": ("lat", "latitude", "y", "y_coord", "lat_dd", "latitude_dd", "decimal_latitude", "decimallatitude",
            "point_y", "northing"),
    # one text column "lat, lon" (latitude first: the order of IOM exports and of map apps)
    "location": ("location_coordinates", "coordinates", "coords", "latlon", "lat_lon", "latlong", "lat_long",
                 "lat_lng", "position", "location", "geo_point", "point"),
    "wkt": ("wkt", "geometry_wkt", "geom_wkt", "wkt_geom", "the_geom", "geometry", "geom", "shape"),
}

# Borderwatch fields of each layer and the column names recognised for them, in priority order.
TARGETS: dict[str, dict[str, tuple[str, ...]]] = {
    "incidents": {
        "incident_id": ("incident_id", "id", "event_id", "event_id_cnty", "uid", "uuid", "web_id", "main_id",
                        "record_id", "report_id"),
        "occurred_at": ("occurred_at", "occurred", "datetime", "date_time", "event_date", "event_datetime",
                        "incident_date", "date", "time", "timestamp", "reported_date", "observed_at", "dtg", "when"),
        "time_precision": ("time_precision", "date_precision", "precision"),
        "threat_type": ("threat_type", "threat", "incident_type", "event_type", "type", "category", "kind"),
        "severity": ("severity", "priority", "level", "impact"),
        "confidence": ("confidence", "reliability", "certainty"),
        "reporting_nation": ("reporting_nation", "reporting_country", "reporter_nation", "nation", "country_code",
                             "iso3", "iso_a3", "iso", "country"),
        "source": ("source", "reported_by", "information_source", "sensor", "origin"),
        "description": ("description", "notes", "details", "remarks", "summary", "comment", "comments",
                        "narrative", "text", "name"),
        "location_error_m": ("location_error_m", "accuracy_m", "uncertainty_m", "error_m", "cep_m", "accuracy"),
    },
    "fortifications": {
        "fortification_id": ("fortification_id", "id", "osm_id", "feature_id", "uid", "uuid"),
        "kind": ("kind", "fortification_type", "fortification", "barrier_type", "type", "category", "class"),
        "name": ("name", "label", "title", "loc_name", "official_name"),
        "condition": ("condition", "state", "status"),
        "year_built": ("year_built", "built", "year", "construction_year", "start_date", "date_built", "built_year"),
        "nation": ("nation", "country_code", "iso3", "iso_a3", "country", "owner_nation"),
    },
    "sensors": {
        "sensor_id": ("sensor_id", "id", "site_id", "uid", "uuid"),
        "sensor_type": ("sensor_type", "type", "kind", "category", "class"),
        "name": ("name", "label", "site_name", "site", "title"),
        "status": ("status", "state", "operational_status", "condition"),
        "range_m": ("range_m", "range_meters", "range_metres", "radius_m", "range", "radius", "max_range",
                    "detection_range"),
        "range_km": ("range_km", "radius_km", "detection_range_km", "max_range_km"),
        "azimuth_deg": ("azimuth_deg", "azimuth", "bearing", "heading", "direction", "orientation", "az"),
        "fov_deg": ("fov_deg", "fov", "field_of_view", "beamwidth", "beam_width", "sector_deg", "sector", "hfov",
                    "aperture"),
        "nation": ("nation", "country_code", "iso3", "iso_a3", "country"),
    },
    "borders": {
        "nation_a": ("nation_a", "iso_a", "iso3_a", "iso_a3_a", "country_a", "left_iso", "iso_left", "adm0_a3_l",
                     "nation1", "country1", "iso1"),
        "nation_b": ("nation_b", "iso_b", "iso3_b", "iso_a3_b", "country_b", "right_iso", "iso_right", "adm0_a3_r",
                     "nation2", "country2", "iso2"),
        # one column naming both sides: "MEX-USA", "USA/MEX", "Mexico - United States"
        "pair": ("segment_id", "pair", "border", "border_id", "nations", "countries"),
        # polygons: one nation's outline
        "nation": ("nation", "iso3", "iso_a3", "adm0_a3", "iso_3166_1_alpha_3", "country_code", "iso", "country"),
        "name": ("name", "name_en", "admin", "nation_name", "country_name"),
    },
}
ID_FIELD = {"incidents": "incident_id", "fortifications": "fortification_id", "sensors": "sensor_id"}
# fields a row cannot do without (besides its geometry)
REQUIRED = {"incidents": ("occurred_at", "threat_type"), "fortifications": (), "sensors": (), "borders": ()}

_WKT = re.compile(r"^\s*(SRID=\d+;\s*)?(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|"
                  r"GEOMETRYCOLLECTION)\b", re.I)
LATLON_TEXT = re.compile(r"^\s*\(?\s*([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)\s*\)?\s*$")


def all_targets(layer: str, tabular: bool) -> tuple[str, ...]:
    return tuple(TARGETS[layer]) + (tuple(GEOMETRY_TARGETS) if tabular else ())


def _share(values: pd.Series, rx: re.Pattern) -> float:
    sample = [v for v in (_text(x) for x in values.head(2000)) if v is not None]
    if not sample:
        return 0.0
    return sum(1 for v in sample if rx.match(v)) / len(sample)


@dataclasses.dataclass
class Mapping:
    """target field -> column of the file (only the mapped ones)."""
    columns: dict[str, str]
    errors: list[str]
    notes: list[str]


def resolve(layer: str, frame: pd.DataFrame, *, tabular: bool, explicit: dict[str, str] | None,
            taken: set[str] | None = None, skip: set[str] | None = None) -> Mapping:
    """Automatic mapping by column name (case-insensitive), overridden by ``explicit``.

    ``explicit`` maps a target to a column name (exact, else case-insensitive) or to "" to
    leave the target unmapped. ``skip``: targets already provided (e.g. by a preset)."""
    targets = all_targets(layer, tabular)
    errors: list[str] = []
    notes: list[str] = []
    columns = list(frame.columns)
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(norm_column(c), c)
    chosen: dict[str, str] = {}
    used = set(taken or ())
    unmapped: set[str] = set()
    for target, source in (explicit or {}).items():
        t = target.strip().lower()
        if t not in targets:
            errors.append(f"cannot map to {target!r}: the {layer} fields are {', '.join(targets)}")
            continue
        if source is None or str(source).strip() == "":
            unmapped.add(t)
            continue
        col = source if source in columns else next((c for c in columns if c.lower() == str(source).lower()), None)
        if col is None:
            errors.append(f"the mapping {t}={source} names a column that is not in the file "
                          f"(columns: {', '.join(map(str, columns[:40]))})")
            continue
        chosen[t] = col
        used.add(col)
    skip = set(skip or ()) | unmapped | set(chosen)
    spec = dict(TARGETS[layer])
    if tabular:
        spec.update(GEOMETRY_TARGETS)
    for target in targets:
        if target in skip:
            continue
        for name in spec[target]:
            col = by_norm.get(name)
            if col is None or col in used:
                continue
            if target == "wkt" and _share(frame[col], _WKT) < 0.5:
                continue
            if target == "location" and _share(frame[col], LATLON_TEXT) < 0.5:
                continue
            if target in ("lon", "lat", "location", "wkt") and _share(frame[col], re.compile(r".")) == 0:
                continue
            chosen[target] = col
            used.add(col)
            break
    if tabular:
        if "lon" in chosen and "lat" in chosen:
            for t in ("location", "wkt"):
                if t in chosen and t not in (explicit or {}):
                    chosen.pop(t)
        elif "location" in chosen or "wkt" in chosen:
            for t in ("lon", "lat"):
                if t in chosen and t not in (explicit or {}):
                    chosen.pop(t)
            if "location" in chosen and "wkt" in chosen and "wkt" not in (explicit or {}):
                chosen.pop("wkt")
    return Mapping(chosen, errors, notes)


# -- vocabularies ---------------------------------------------------------------------------
THREAT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "illegal_crossing": ("illegal crossing", "irregular crossing", "illegal border crossing", "irregular border crossing",
                         "unauthorised crossing", "unauthorized crossing", "border violation", "irregular migration",
                         "illegal migration", "migrant", "migrants", "migration", "crossing", "ibc", "apprehension"),
    "smuggling": ("smuggling", "contraband", "goods smuggling", "cigarette smuggling", "tobacco smuggling",
                  "fuel smuggling", "excise", "customs"),
    "drug_trafficking": ("drug trafficking", "drugs", "drug", "narcotics", "drug smuggling", "cocaine", "cannabis",
                         "heroin", "methamphetamine", "fentanyl"),
    "human_trafficking": ("human trafficking", "trafficking in human beings", "thb", "people smuggling",
                          "migrant smuggling", "facilitation", "facilitator", "trafficking"),
    "weapons_trafficking": ("weapons trafficking", "arms trafficking", "weapons smuggling", "arms smuggling", "weapons",
                            "weapon", "arms", "firearms", "ammunition", "explosives"),
    "document_fraud": ("document fraud", "forged documents", "false documents", "fraudulent documents",
                       "identity fraud", "forgery", "fraud"),
    "armed_incursion": ("armed incursion", "incursion", "armed clash", "armed attack", "attack", "shooting",
                        "exchange of fire", "cross border fire", "ceasefire violation", "raid"),
    "drone_incursion": ("drone incursion", "drone", "drones", "uav", "uas", "unmanned aircraft", "drone sighting"),
    "other": ("other", "unknown", "misc", "miscellaneous"),
}
THREATS = vocabulary(THREAT_SYNONYMS)

SEVERITY_WORDS = {"low": 1, "minor": 1, "moderate": 2, "medium": 2, "high": 3, "major": 3, "serious": 3,
                  "critical": 4, "severe": 4, "very high": 4}

KIND_SYNONYMS: dict[str, tuple[str, ...]] = {
    "wall": ("wall", "border wall", "concrete wall", "barrier wall", "city wall", "separation wall", "steel wall"),
    "fence": ("fence", "border fence", "wire fence", "razor wire", "barbed wire", "chain link", "pedestrian fence",
              "primary fence", "secondary fence", "mesh fence"),
    "vehicle_barrier": ("vehicle barrier", "vehicle fence", "jersey barrier", "bollards", "bollard", "normandy barrier",
                        "tank trap", "anti tank ditch", "anti vehicle ditch", "ditch", "berm"),
    "patrol_road": ("patrol road", "border road", "patrol track", "patrol path", "track"),
    "border_post": ("border post", "post", "outpost", "border station", "guard post", "station", "bop",
                    "border outpost", "barracks"),
    "checkpoint": ("checkpoint", "check point", "border crossing", "crossing point", "crossing", "port of entry", "poe",
                   "bcp", "border control", "border crossing point", "customs post"),
    "gate": ("gate", "turnstile", "lift gate", "swing gate", "sliding gate", "full height turnstile", "border gate"),
    "watchtower": ("watchtower", "watch tower", "tower", "observation tower", "observation post", "guard tower"),
    "other": ("other", "unknown"),
}
KINDS = vocabulary(KIND_SYNONYMS)
CONDITIONS = vocabulary({
    "good": ("good", "intact", "new", "operational", "ok", "excellent", "maintained"),
    "fair": ("fair", "average", "moderate", "worn"),
    "poor": ("poor", "bad", "damaged", "degraded", "deteriorated", "needs repair"),
    "breached": ("breached", "breach", "destroyed", "cut", "broken", "collapsed"),
})

# OpenStreetMap tags -> fortification kind (first match wins)
OSM_KIND_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("military", ("checkpoint",), "checkpoint"),
    ("barrier", ("border_control",), "checkpoint"),
    ("barrier", ("gate", "lift_gate", "swing_gate", "sliding_gate", "full-height_turnstile", "turnstile",
                 "kissing_gate", "entrance"), "gate"),
    ("barrier", ("wall", "city_wall", "retaining_wall"), "wall"),
    ("barrier", ("jersey_barrier", "bollard", "block", "tank_trap", "ditch", "cable_barrier", "guard_rail"),
     "vehicle_barrier"),
    ("barrier", ("fence", "wire_fence", "hedge", "chain"), "fence"),
    ("man_made", ("watchtower",), "watchtower"),
    ("tower:type", ("observation", "watchtower", "defensive"), "watchtower"),
    ("military", ("bunker", "barracks", "office"), "border_post"),
)
# a fence tagged as a vehicle barrier (OSM border_fence_type=vehicle) is a vehicle barrier
OSM_VEHICLE_TAGS = ("border_fence_type", "fence_type")

SENSOR_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "radar": ("radar", "ground radar", "surveillance radar", "gsr", "coastal radar"),
    "thermal_camera": ("thermal camera", "thermal", "ir camera", "infrared camera", "infrared", "flir", "thermal imager"),
    "optical_camera": ("optical camera", "camera", "cctv", "daylight camera", "video camera", "eo camera", "eo"),
    "seismic_sensor": ("seismic sensor", "seismic", "ground sensor", "motion sensor", "pir", "ugs",
                       "unattended ground sensor", "vibration sensor", "fibre sensor", "fiber sensor"),
    "uav_orbit": ("uav orbit", "uav", "drone", "uas", "rpas", "uav patrol"),
    "aerostat": ("aerostat", "balloon", "tethered aerostat", "blimp"),
    "other": ("other", "unknown"),
}
SENSOR_TYPES = vocabulary(SENSOR_TYPE_SYNONYMS)
STATUSES = vocabulary({
    "online": ("online", "on", "up", "ok", "active", "operational", "working", "live", "green"),
    "degraded": ("degraded", "partial", "impaired", "limited", "amber", "yellow", "maintenance"),
    "offline": ("offline", "off", "down", "inactive", "failed", "broken", "red", "out of service"),
})


# -- presets --------------------------------------------------------------------------------
@dataclasses.dataclass
class Derived:
    """What a preset provides: values per target and how to name their source in errors."""
    values: dict[str, list[Any]]
    labels: dict[str, str]
    precision: list[str | None] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One layout of a known export, recognised by its columns (normalised, so case and BOM do not matter)."""
    name: str
    signature: tuple[tuple[str, ...], ...]  # groups of alternative normalised column names, all groups needed
    absent: tuple[str, ...] = ()  # columns this layout does not have

    def matches(self, cols: set[str]) -> bool:
        return (all(any(alt in cols for alt in group) for group in self.signature)
                and not any(c in cols for c in self.absent))


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    label: str
    source: str  # id namespace and default source of rows
    layer: str
    variants: tuple[Variant, ...]  # the first that matches is the one named in the report
    derive: Callable[[pd.DataFrame], Derived]

    @property
    def signature(self) -> tuple[tuple[str, ...], ...]:
        return self.variants[0].signature

    def variant(self, frame: pd.DataFrame) -> Variant | None:
        cols = {norm_column(c) for c in frame.columns}
        return next((v for v in self.variants if v.matches(cols)), None)

    def matches(self, frame: pd.DataFrame) -> bool:
        return self.variant(frame) is not None


def _col(frame: pd.DataFrame, *names: str) -> str | None:
    by_norm = {norm_column(c): c for c in frame.columns}
    for n in names:
        if norm_column(n) in by_norm:
            return by_norm[norm_column(n)]
    return None


def _values(frame: pd.DataFrame, col: str | None) -> list[Any]:
    return [None] * len(frame) if col is None else [_text(v) for v in frame[col].tolist()]


def _int(v: Any) -> int | None:
    s = _text(v)
    if s is None:
        return None
    try:
        return int(float(s.replace(",", "")))
    except ValueError:
        return None


# ACLED: (event_type, sub_event_type) -> threat type; sub_event_type None = any other sub-type
ACLED_THREATS: dict[tuple[str, str | None], str] = {
    ("Battles", "Armed clash"): "armed_incursion",
    ("Battles", "Government regains territory"): "armed_incursion",
    ("Battles", "Non-state actor overtakes territory"): "armed_incursion",
    ("Battles", None): "armed_incursion",
    ("Explosions/Remote violence", "Air/drone strike"): "drone_incursion",
    ("Explosions/Remote violence", "Shelling/artillery/missile attack"): "armed_incursion",
    ("Explosions/Remote violence", "Remote explosive/landmine/IED"): "armed_incursion",
    ("Explosions/Remote violence", "Grenade"): "armed_incursion",
    ("Explosions/Remote violence", "Suicide bomb"): "armed_incursion",
    ("Explosions/Remote violence", "Chemical weapon"): "armed_incursion",
    ("Explosions/Remote violence", None): "armed_incursion",
    ("Violence against civilians", None): "other",
    ("Strategic developments", "Disrupted weapons use"): "weapons_trafficking",
    ("Strategic developments", None): "other",
    ("Protests", None): "other",
    ("Riots", None): "other",
    # event types of older ACLED exports (before the 2019 revision of the codebook)
    ("Battle-No change of territory", None): "armed_incursion",
    ("Battle-Government regains territory", None): "armed_incursion",
    ("Battle-Non-state actor overtakes territory", None): "armed_incursion",
    ("Remote violence", None): "armed_incursion",
    ("Riots/Protests", None): "other",
    ("Strategic development", None): "other",
    ("Non-violent transfer of territory", None): "other",
    ("Headquarters or base established", None): "other",
}
ACLED_BASE_SEVERITY = {"Battles": 3, "Explosions/Remote violence": 3, "Violence against civilians": 3,
                       "Riots": 2, "Protests": 1, "Strategic developments": 1,
                       "Battle-No change of territory": 3, "Battle-Government regains territory": 3,
                       "Battle-Non-state actor overtakes territory": 3, "Remote violence": 3, "Riots/Protests": 2,
                       "Strategic development": 1, "Non-violent transfer of territory": 1,
                       "Headquarters or base established": 1}
ACLED_PRECISION = {1: "day", 2: "week", 3: "month"}  # ACLED codes: the day, within about a week, the month
ACLED_LOCATION_ERROR_M = {1: 2_000.0, 2: 25_000.0, 3: 100_000.0}
ACLED_CONFIDENCE = 0.8


_ACLED_SEVERITY_BY_WORD = {norm_word(k): v for k, v in ACLED_BASE_SEVERITY.items()}


def acled_threat(event_type: str | None, sub_event_type: str | None) -> str | None:
    et = norm_word(event_type or "")
    st = norm_word(sub_event_type or "")
    exact = {(norm_word(a), norm_word(b) if b else None): v for (a, b), v in ACLED_THREATS.items()}
    return exact.get((et, st)) or exact.get((et, None))


def _acled(frame: pd.DataFrame) -> Derived:
    c = lambda *n: _col(frame, *n)  # noqa: E731
    et, st = _values(frame, c("event_type")), _values(frame, c("sub_event_type"))
    fatal = [_int(v) for v in _values(frame, c("fatalities"))]
    a1, a2 = _values(frame, c("actor1")), _values(frame, c("actor2"))
    allies1, allies2 = _values(frame, c("assoc_actor_1", "ally_actor_1")), _values(frame, c("assoc_actor_2", "ally_actor_2"))
    remarks, srcs = _values(frame, c("notes")), _values(frame, c("source"))
    threats, severity, descriptions, notes = [], [], [], []
    for i in range(len(frame)):
        t = acled_threat(et[i], st[i])
        threats.append(t if t else (f"{et[i]} / {st[i]}" if et[i] else None))
        base = _ACLED_SEVERITY_BY_WORD.get(norm_word(et[i] or ""), 2)
        f = fatal[i] or 0
        severity.append(4 if f >= 10 else max(base, 3) if f >= 1 else base)
        actors = (a1[i] or "") + (f" (with {allies1[i]})" if allies1[i] else "")
        if a2[i]:
            actors += f" vs {a2[i]}" + (f" (with {allies2[i]})" if allies2[i] else "")
        parts = [f"{et[i] or 'Event'}: {st[i] or ''}".rstrip(": "), actors, f"fatalities: {f}" if fatal[i] is not None else "",
                 remarks[i] or "", f"(sources: {srcs[i]})" if srcs[i] else ""]
        descriptions.append(". ".join(p for p in parts if p))
    precision = None
    pcol = c("time_precision")
    if pcol:
        precision = [ACLED_PRECISION.get(_int(v) or 1, "day") for v in frame[pcol].tolist()]
        unknown = sorted({str(_text(v)) for v in frame[pcol].tolist() if _text(v) and _int(v) not in ACLED_PRECISION})
        if unknown:
            notes.append(f"time_precision values {', '.join(unknown[:5])} are not ACLED codes 1-3: read as day")
    geo = [_int(v) for v in _values(frame, c("geo_precision"))]
    nation = _values(frame, c("iso"))
    country = _values(frame, c("country"))
    values = {
        "incident_id": _values(frame, c("event_id_cnty")),
        "occurred_at": _values(frame, c("event_date")),
        "threat_type": threats,
        "severity": severity,
        "confidence": [ACLED_CONFIDENCE] * len(frame),
        "reporting_nation": [n if n is not None else k for n, k in zip(nation, country)],
        "source": ["ACLED"] * len(frame),
        "description": descriptions,
        "lon": _values(frame, c("longitude")),
        "lat": _values(frame, c("latitude")),
        "location_error_m": [ACLED_LOCATION_ERROR_M.get(g) if g else None for g in geo],
    }
    labels = {"incident_id": "event_id_cnty", "occurred_at": "event_date", "threat_type": "event_type/sub_event_type",
              "severity": "event_type/fatalities", "confidence": "(ACLED preset)", "reporting_nation": "iso/country",
              "source": "(ACLED preset)", "description": "event_type/actor1/actor2/notes/source",
              "lon": "longitude", "lat": "latitude", "location_error_m": "geo_precision"}
    if c("iso") is None:
        labels["reporting_nation"] = "country"
    return Derived(values, labels, precision, notes)


IOM_THREAT = "illegal_crossing"
IOM_SOURCE = "IOM Missing Migrants Project"
IOM_CONFIDENCE = {1: 0.4, 2: 0.55, 3: 0.7, 4: 0.85, 5: 0.95}
_IOM_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"], start=1)}


def iom_severity(total: int | None) -> int:
    if total is None or total <= 0:
        return 2
    return 4 if total >= 10 else 3


def _iom(frame: pd.DataFrame) -> Derived:
    c = lambda *n: _col(frame, *n)  # noqa: E731
    date_col = c("Reported Date", "Incident Date", "Date")
    dates = _values(frame, date_col)
    years = _values(frame, c("Reported Year", "Incident year", "Year"))
    months = _values(frame, c("Reported Month", "Month"))
    date_label = date_col or "Reported Date"
    filled = 0
    for i, d in enumerate(dates):
        if d is None and years[i]:  # keep what is known: the month, else the year
            mon = _IOM_MONTHS.get((months[i] or "")[:3].lower())
            dates[i] = f"{years[i]}-{mon:02d}" if mon else years[i]
            filled += 1
    dead = [_int(v) for v in _values(frame, c("Number Dead", "Number of Dead"))]
    missing = [_int(v) for v in _values(frame, c("Minimum Estimated Number of Missing"))]
    total = [_int(v) for v in _values(frame, c("Total Dead and Missing", "Total Number of Dead and Missing"))]
    survivors = [_int(v) for v in _values(frame, c("Number of Survivors"))]
    cause = _values(frame, c("Cause of Death"))
    place = _values(frame, c("Location Description", "Location of death", "Location of Incident"))
    route = _values(frame, c("Migration Route", "Migration route"))
    info = _values(frame, c("Information Source"))
    region = _values(frame, c("Region of Incident", "Region"))
    quality = [_int(v) for v in _values(frame, c("Source Quality"))]
    descriptions = []
    for i in range(len(frame)):
        t = total[i] if total[i] is not None else (dead[i] or 0) + (missing[i] or 0)
        head = f"{t} dead or missing" + (f" ({dead[i] or 0} dead, {missing[i] or 0} missing)" if missing[i] else "")
        if survivors[i]:
            head += f", {survivors[i]} survivors"
        parts = [head, f"cause: {cause[i]}" if cause[i] else "", place[i] or "", f"route: {route[i]}" if route[i] else "",
                 f"region: {region[i]}" if region[i] else "", f"source: {info[i]}" if info[i] else ""]
        descriptions.append(". ".join(p for p in parts if p))
    n = len(frame)
    values = {
        "incident_id": _values(frame, c("Web ID", "Main ID", "Incident ID")),
        "occurred_at": dates,
        "threat_type": [IOM_THREAT] * n,
        "severity": [iom_severity(total[i] if total[i] is not None else (dead[i] or 0) + (missing[i] or 0)) for i in range(n)],
        "confidence": [IOM_CONFIDENCE.get(q, 0.5) if q else 0.5 for q in quality],
        "reporting_nation": [None] * n,
        "source": [IOM_SOURCE] * n,
        "description": descriptions,
    }
    coords_col = c("Location Coordinates", "Coordinates")
    coords = _values(frame, coords_col)
    # the current download writes WKT "POINT (lon lat)"; older ones "lat, lon"
    present = [v for v in coords[:2000] if v]
    geometry_key = "wkt" if present and sum(bool(_WKT.match(v)) for v in present) > len(present) / 2 else "location"
    values[geometry_key] = coords
    labels = {"incident_id": c("Web ID", "Main ID", "Incident ID") or "Web ID", "occurred_at": date_label,
              "threat_type": "(IOM preset)", "severity": "Total Dead and Missing", "confidence": "Source Quality",
              "reporting_nation": "(IOM preset)", "source": "(IOM preset)",
              "description": "Cause of Death/Location Description/...",
              geometry_key: coords_col or "Location Coordinates"}
    notes = [f"{filled} row(s) without a day date took the reported month and year (month precision)"] if filled else []
    return Derived(values, labels, None, notes)


ACLED_VARIANTS = (
    Variant("current layout (event_id_cnty, event_date, event_type, sub_event_type, iso...)",
            (("event_id_cnty",), ("event_date",), ("event_type",), ("sub_event_type",), ("latitude",),
             ("longitude",))),
    Variant("legacy upper-case layout (EVENT_ID_CNTY, EVENT_DATE, GWNO, ALLY_ACTOR_1..., no sub_event_type)",
            (("event_id_cnty",), ("event_date",), ("event_type",), ("gwno",), ("latitude",), ("longitude",)),
            absent=("sub_event_type",)),
)
IOM_VARIANTS = (
    Variant("current download (Incident ID, Incident Date, Coordinates as POINT (lon lat))",
            (("incident_id", "main_id"), ("incident_date",), ("coordinates",), ("cause_of_death",))),
    Variant("older layout (Web ID, Reported Date, Location Coordinates as 'lat, lon')",
            (("web_id", "main_id"), ("reported_date",), ("location_coordinates", "coordinates"), ("cause_of_death",))),
    Variant("widely shared layout (Incident year, Reported Month, Coordinates as 'lat, lon')",
            (("web_id", "main_id", "incident_id"), ("incident_year", "reported_year"), ("reported_month",),
             ("location_coordinates", "coordinates"), ("cause_of_death",)), absent=("reported_date", "incident_date")),
)
PRESETS: dict[str, Preset] = {
    "acled": Preset("acled", "ACLED export", "ACLED", "incidents", ACLED_VARIANTS, _acled),
    "iom-mmp": Preset("iom-mmp", "IOM Missing Migrants Project export", "IOM-MMP", "incidents", IOM_VARIANTS, _iom),
}


def detect_preset(layer: str, frame: pd.DataFrame) -> Preset | None:
    for preset in PRESETS.values():
        if preset.layer == layer and preset.matches(frame):
            return preset
    return None
