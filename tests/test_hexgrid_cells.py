"""The vectorised H3 cells (h3ronpy) are h3's cells, point for point, including the edge cases."""
import h3
import numpy as np
import pytest

from borderwatch import hexgrid


def _edge_points() -> tuple[np.ndarray, np.ndarray]:
    lon = [0.0, 0.0, 180.0, -180.0, 179.999999, -179.999999, 180.0, -180.0, 0.0, 45.0, -45.0,
           135.0, 33.123456, -0.000001, 0.000001, 179.9, -179.9, 12.5, 200.0, -200.0]
    lat = [90.0, -90.0, 0.0, 0.0, 10.0, -10.0, 89.999999, -89.999999, 0.0, 89.9, -89.9,
           -60.0, 47.654321, 0.000001, -0.000001, 65.5, -65.5, 91.0, 10.0, -10.0]
    return np.array(lon), np.array(lat)


def test_cells_equal_h3_on_edge_cases():
    lon, lat = _edge_points()
    fast = hexgrid.cells(lon, lat)
    slow = hexgrid.cells_one_by_one(lon, lat)
    assert fast.dtype == np.uint64
    assert fast.tolist() == slow.tolist()
    # and h3's string API agrees (the north pole, the antimeridian from both sides)
    for k in (0, 2, 3, 4, 5):
        assert h3.int_to_str(int(fast[k])) == h3.latlng_to_cell(lat[k], lon[k], hexgrid.H3_RES)


def test_cells_equal_h3_on_random_points():
    rng = np.random.default_rng(11)
    lon = rng.uniform(-180, 180, 20_000)
    lat = rng.uniform(-90, 90, 20_000)
    assert np.array_equal(hexgrid.cells(lon, lat), hexgrid.cells_one_by_one(lon, lat))


def test_cells_of_no_points_and_of_a_point_that_is_not_a_number():
    assert hexgrid.cells(np.array([]), np.array([])).tolist() == []
    with pytest.raises(h3.H3LatLngDomainError):
        hexgrid.cells(np.array([1.0, np.nan]), np.array([2.0, 3.0]))
