"""The store writer's two ways from journal records to store rows give the same rows; a batch the
JSON-payload way does not cover goes the dict way."""
from __future__ import annotations

import orjson
import pytest

from borderwatch.feeds import journal, patrols, rows, writer
from feed_helpers import listener_records, stored


def _records(n: int, **extra_fields) -> list[dict]:
    return listener_records(n, "rows", **extra_fields)


def _payloads(recs: list[dict]) -> list[bytes]:
    return [journal.checked(journal.encode(r)) for r in recs]


@pytest.mark.parametrize("extra_fields", [
    {},
    {"owner_nation": "USA", "release_public": False, "release_nations": ["MEX"], "release_agreements": []},
    {"description": None, "time_precision": None, "location_error_m": None, "reporting_nation": None},
])
def test_json_payloads_give_the_same_rows_as_decoded_records(feed_store, extra_fields):
    recs = _records(5, **extra_fields)
    by_dicts = rows.records_table(feed_store, recs)
    by_json = rows.json_table(feed_store, _payloads(recs))
    assert by_json is not None
    assert by_json.schema == by_dicts.schema
    assert by_json.drop(["ingested_at"]).equals(by_dicts.drop(["ingested_at"]))
    assert by_json["segment_id"][0].as_py() == "MEX-USA"  # derived, not carried
    if extra_fields.get("release_nations"):
        assert by_json["release_nations"].to_pylist() == [["MEX"]] * 5


def test_batches_the_json_way_does_not_cover_go_the_dict_way(feed_store):
    plain = _records(2)
    sensor = _records(1)
    sensor[0]["extra"]["sensor_id"] = "radar-7"
    position = {"kind": patrols.KIND, "uid": "p1", "lat": 31.7, "lon": -106.4}
    wrong_type = _records(1, severity="high")  # not what a record holds: the dict way names the error
    for batch in (plain + sensor, plain + [position], plain + wrong_type):
        assert rows.json_table(feed_store, _payloads(batch)) is None
    with pytest.raises((ValueError, TypeError)):
        rows.records_table(feed_store, plain + wrong_type)


def test_store_records_commits_a_raw_batch_once(feed_store):
    recs = _records(4)
    batch = rows.RawBatch(_payloads(recs) + _payloads(recs[:1]))  # a re-sent event in the same batch
    assert writer.store_records(feed_store, batch) == 4
    assert writer.store_records(feed_store, rows.RawBatch(_payloads(recs))) == 0  # a replay
    assert stored(feed_store, [r["incident_id"] for r in recs]) == {r["incident_id"]: 1 for r in recs}


def test_a_payload_that_is_not_json_is_skipped_not_fatal():
    good = orjson.dumps({"incident_id": "x"})
    assert rows.RawBatch([b"{not json", good]).records() == [{"incident_id": "x"}]
