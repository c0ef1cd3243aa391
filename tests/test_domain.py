"""The domain's words live in one module, and every part of the product uses exactly those."""
from __future__ import annotations

import math

import pytest
from pyproj import Geod

from borderwatch import domain
from borderwatch.importers import mapping
from layers import style


def test_importer_vocabularies_name_the_domain_words():
    assert set(mapping.THREAT_SYNONYMS) == set(domain.THREAT_TYPES)
    assert set(mapping.KIND_SYNONYMS) == set(domain.FORTIFICATION_KINDS)
    assert set(mapping.SENSOR_TYPE_SYNONYMS) == set(domain.SENSOR_KINDS)
    assert set(mapping.CONDITIONS.values()) == set(domain.CONDITIONS)
    assert set(mapping.STATUSES.values()) == set(domain.SENSOR_STATUSES)


def test_styles_cover_every_domain_word():
    assert set(style.THREAT_COLORS) == set(domain.THREAT_TYPES)
    assert set(style.FORTIFICATION_STYLE) == set(domain.FORTIFICATION_KINDS)
    assert set(style.SENSOR_COLORS) == set(domain.SENSOR_KINDS)
    assert set(style.SENSOR_STATUS_STYLE) == set(domain.SENSOR_STATUSES)


@pytest.mark.parametrize("lat", [0.0, 45.0, 69.0])
def test_coverage_is_geodesic(lat):
    """A 10 km disc covers about pi*10^2 km^2 wherever it stands (degrees would shrink it north)."""
    geod = Geod(ellps="WGS84")
    disc = domain.coverage_polygon(10.0, lat, 10_000, 0, 360, steps=90)
    area_km2 = abs(geod.geometry_area_perimeter(disc)[0]) / 1e6
    assert area_km2 == pytest.approx(math.pi * 100, rel=0.01)
    quarter = domain.coverage_polygon(10.0, lat, 10_000, 45, 90, steps=90)
    assert abs(geod.geometry_area_perimeter(quarter)[0]) / 1e6 == pytest.approx(math.pi * 100 / 4, rel=0.01)
    # the sector opens towards its azimuth: north-east of the site
    c = quarter.centroid
    assert c.x > 10.0 and c.y > lat


def test_typical_ranges_lie_inside_the_type_ranges():
    for kind in domain.SENSOR_TYPES.values():
        low, high = kind.range_m
        assert low < kind.typical_range_m < high


def test_where_rows_came_from_reads_the_same_on_the_map_and_in_the_briefing():
    from borderwatch.words import dataset_label

    assert [dataset_label(d) for d in ("import:sensors.csv", "feed:cot", "scenario", None, "other")] == \
        ["imported file sensors.csv", "feed cot", "synthetic scenario", "unlabelled", "other"]
