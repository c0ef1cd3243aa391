"""Real-world facts checked against the committed border reference data (data/reference)."""
from __future__ import annotations

import re

import pycountry
import pytest
import shapely
from pyproj import Geod

from borderwatch import reference

# ISO 3166-1 alpha-3 codes reserved for user assignment
USER_ASSIGNED_RANGE = re.compile(r"^(AA[A-Z]|Q[M-Z][A-Z]|X[A-Z]{2}|ZZ[A-Z])$")


@pytest.fixture(scope="module")
def nations():
    return reference.load_nations()


@pytest.fixture(scope="module")
def segments():
    return reference.load_segments()


@pytest.fixture(scope="module")
def ids(segments):
    return set(segments["segment_id"])


@pytest.fixture(scope="module")
def documented_codes():
    """Code -> source name from the table of user-assigned codes in PROVENANCE.md."""
    text = reference.PROVENANCE_FILE.read_text(encoding="utf-8")
    section = text.split("## Codes for features without an ISO 3166-1 code", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([A-Z]{3}) \| ([^|]+?) \| [^|]+ \|$", section, flags=re.MULTILINE)
    assert rows, "PROVENANCE.md has no table of user-assigned codes"
    return dict(rows)


def sid(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def test_reference_dir_and_crs(nations, segments):
    assert reference.REFERENCE_DIR.parts[-2:] == ("data", "reference")
    assert nations.crs.to_epsg() == 4326
    assert segments.crs.to_epsg() == 4326
    assert list(nations.columns) == ["iso3", "name", "geometry"]
    assert list(segments.columns) == ["segment_id", "nation_a", "nation_b", "length_km", "geometry"]


@pytest.mark.parametrize(
    "a, b",
    [
        ("USA", "MEX"), ("USA", "CAN"), ("FRA", "ESP"), ("IND", "PAK"), ("RUS", "KAZ"),
        ("CHL", "ARG"), ("IND", "BGD"), ("DEU", "POL"), ("CHN", "RUS"), ("ZAF", "LSO"),
        ("KOR", "PRK"), ("DOM", "HTI"), ("IDN", "TLS"), ("IDN", "PNG"), ("NOR", "RUS"),
        ("ITA", "SMR"), ("ESP", "AND"), ("ESP", "GIB"),
        ("ESP", "MAR"),  # Ceuta and Melilla
        ("FRA", "BRA"), ("FRA", "SUR"),  # French Guiana is part of France (admin-0)
        ("ISR", "PSE"), ("SOM", "XSL"),
    ],
)
def test_border_exists(ids, a, b):
    assert sid(a, b) in ids


@pytest.mark.parametrize("a, b", [("FRA", "USA"), ("FRA", "GBR"), ("RUS", "USA"), ("PRT", "FRA"), ("CYP", "GBR"), ("NAM", "ZWE")])
def test_border_absent(ids, a, b):
    assert sid(a, b) not in ids


@pytest.mark.parametrize("island_nation", ["AUS", "ISL", "NZL", "JPN", "MDG"])
def test_island_nations_have_no_land_border(segments, island_nation):
    assert not ((segments["nation_a"] == island_nation) | (segments["nation_b"] == island_nation)).any()


def test_russia_has_fourteen_neighbours(segments):
    touching = segments[(segments["nation_a"] == "RUS") | (segments["nation_b"] == "RUS")]
    neighbours = set(touching["nation_a"]) | set(touching["nation_b"])
    assert neighbours - {"RUS"} == {
        "NOR", "FIN", "EST", "LVA", "LTU", "POL", "BLR", "UKR", "GEO", "AZE", "KAZ", "CHN", "MNG", "PRK",
    }


def test_segment_ids_are_ordered_pairs_and_unique(segments, nations):
    assert segments["segment_id"].is_unique
    for segment_id, a, b in segments[["segment_id", "nation_a", "nation_b"]].itertuples(index=False):
        assert re.fullmatch(r"[A-Z]{3}-[A-Z]{3}", segment_id), segment_id
        assert segment_id == f"{a}-{b}"
        assert a < b
    known = set(nations["iso3"])
    assert set(segments["nation_a"]) <= known
    assert set(segments["nation_b"]) <= known


def test_geometries_valid_and_in_lon_lat_range(nations, segments):
    assert (nations.geom_type == "MultiPolygon").all()
    assert (segments.geom_type == "MultiLineString").all()
    for frame in (nations, segments):
        geoms = frame.geometry.values
        assert shapely.is_valid(geoms).all()
        assert not shapely.is_empty(geoms).any()
        minx, miny, maxx, maxy = frame.total_bounds
        assert -180 <= minx <= maxx <= 180
        assert -90 <= miny <= maxy <= 90
    # polygons crossing the antimeridian (Chukotka, Fiji) are cut there, not stretched across the
    # map; only Antarctica, closed along the South Pole, spans all longitudes
    for iso3, geom in zip(nations["iso3"], nations.geometry):
        widest = max(part.bounds[2] - part.bounds[0] for part in geom.geoms)
        assert widest < 180 or iso3 == "ATA", iso3
    antarctica = nations.loc[nations["iso3"] == "ATA"].geometry.iloc[0]
    assert antarctica.bounds[1] == -90
    assert antarctica.covers(shapely.Point(0, -89.9))


def test_length_km_is_geodesic_length(segments):
    geod = Geod(ellps="WGS84")
    for geom, length_km in zip(segments.geometry, segments["length_km"]):
        assert geod.geometry_length(geom) / 1000 == pytest.approx(length_km, rel=1e-9)
    assert (segments["length_km"] > 0).all()


def test_nation_codes_are_iso_or_documented(nations, documented_codes):
    assert nations["iso3"].is_unique
    names = dict(zip(nations["iso3"], nations["name"]))
    for code in nations["iso3"]:
        if pycountry.countries.get(alpha_3=code) is not None:
            continue
        assert code in documented_codes, f"{code} is neither ISO 3166-1 nor documented in PROVENANCE.md"
        assert names[code] == documented_codes[code]
    for code in documented_codes:
        assert USER_ASSIGNED_RANGE.match(code), f"{code} is not in a user-assigned range"
        assert pycountry.countries.get(alpha_3=code) is None


def test_kosovo(nations, segments, documented_codes):
    assert documented_codes["XKX"] == "Kosovo"
    assert nations.loc[nations["iso3"] == "XKX", "name"].tolist() == ["Kosovo"]
    touching = segments[(segments["nation_a"] == "XKX") | (segments["nation_b"] == "XKX")]
    assert set(touching["nation_a"]) | set(touching["nation_b"]) == {"XKX", "SRB", "ALB", "MKD", "MNE"}


# CIA World Factbook land boundary lengths (km). Natural Earth 1:10m is generalised for display
# and quantised to a grid of about 0.0036 x 0.0017 degrees: bends of rivers and crest lines
# smaller than that are smoothed away, so measured lengths are shorter than surveyed ones (75-90 %
# for four of these pairs). Generalisation hardly ever lengthens a line, so the upper bound is a
# small margin. Accepted: 0.70 to 1.10 of the published figure.
# India-Bangladesh is the exception: most of it follows small, tightly winding rivers and field
# boundaries, which 1:10m draws with about 2,390 km of line (58 % of the published length), so
# its band starts at 0.50. A derivation error (a missing or doubled piece) still falls outside.
FACTBOOK_KM = {
    ("USA", "MEX"): 3_155,
    ("USA", "CAN"): 8_893,  # including Alaska-Canada
    ("RUS", "KAZ"): 7_644,
    ("IND", "BGD"): 4_142,
    ("CHL", "ARG"): 6_691,
}
DEFAULT_BAND = (0.70, 1.10)
BANDS = {("IND", "BGD"): (0.50, 1.10)}


@pytest.mark.parametrize("pair, published_km", FACTBOOK_KM.items(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_lengths_against_world_factbook(segments, pair, published_km):
    low, high = BANDS.get(pair, DEFAULT_BAND)
    length_km = segments.set_index("segment_id").loc[sid(*pair), "length_km"]
    assert low * published_km <= length_km <= high * published_km, f"{sid(*pair)}: {length_km:.0f} km"


def test_segment_count_plausible(segments, documented_codes):
    # About 300-330 land borders between ISO countries at 1:10m, plus the borders of the
    # documented non-ISO units (Kosovo, Somaliland, the Cyprus buffer zone, ...).
    iso_only = segments[~segments["nation_a"].isin(documented_codes) & ~segments["nation_b"].isin(documented_codes)]
    assert 300 <= len(iso_only) <= 330
    assert 310 <= len(segments) <= 350
