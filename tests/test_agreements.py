"""The curated agreements file and its validator."""
from __future__ import annotations

import copy
import json

import pytest

from borderwatch import agreements as ag


@pytest.fixture(scope="module")
def document():
    return json.loads(ag.AGREEMENTS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def by_id():
    return {a.agreement_id: a for a in ag.load_agreements()}


def codes(by_id, agreement_id):
    return {m.iso3 for m in by_id[agreement_id].members}


# --------------------------------------------------------------------------- the committed file

def test_committed_file_validates(document):
    assert ag.validate(document) == []
    assert document["schema_version"] == 1


def test_file_lives_under_data_reference():
    assert ag.AGREEMENTS_FILE.parts[-3:] == ("data", "reference", "agreements.json")
    assert ag.AGREEMENTS_FILE.is_file()


def test_required_agreements_present(by_id):
    for aid in ("schengen", "eu", "gcc", "au", "oas", "us-mex", "us-can"):
        assert aid in by_id


def test_records_are_frozen(by_id):
    schengen = by_id["schengen"]
    assert isinstance(schengen.members, tuple) and isinstance(schengen.provisions, tuple)
    assert isinstance(schengen.sources, tuple)
    with pytest.raises(AttributeError):
        schengen.name = "x"
    with pytest.raises(AttributeError):
        schengen.members[0].iso3 = "XXX"


def test_schengen_membership(by_id):
    members = codes(by_id, "schengen")
    assert len(by_id["schengen"].members) == 29
    assert {"HRV", "BGR", "ROU", "CHE", "NOR", "ISL", "LIE"} <= members
    assert not members & {"IRL", "CYP", "GBR"}
    joined = {m.iso3: m.joined for m in by_id["schengen"].members}
    assert joined["HRV"] == "2023-01-01"
    assert joined["BGR"] == joined["ROU"] == "2025-01-01"
    assert {joined[c] for c in ("BEL", "DEU", "FRA", "LUX", "NLD")} == {"1995-03-26"}
    assert "2024-03-31" in by_id["schengen"].description


def test_schengen_is_eu_minus_ireland_and_cyprus_plus_four(by_id):
    eu, schengen = codes(by_id, "eu"), codes(by_id, "schengen")
    assert schengen - eu == {"ISL", "NOR", "CHE", "LIE"}
    assert eu - schengen == {"IRL", "CYP"}


def test_eu_membership(by_id):
    members = codes(by_id, "eu")
    assert len(by_id["eu"].members) == 27
    assert "GBR" not in members
    assert "Frontex" in by_id["eu"].description


def test_gcc_membership(by_id):
    assert codes(by_id, "gcc") == {"SAU", "ARE", "KWT", "QAT", "BHR", "OMN"}
    assert {m.joined for m in by_id["gcc"].members} == {"1981-05-25"}


def test_african_union_membership(by_id):
    au = by_id["au"]
    assert len(au.members) == 55
    joined = {m.iso3: m.joined for m in au.members}
    assert joined["MAR"] == "2017-01-31"
    assert "ESH" in joined  # the Sahrawi Arab Democratic Republic's seat


def test_oas_membership(by_id):
    members = codes(by_id, "oas")
    assert "NIC" not in members
    assert {"USA", "CAN", "MEX", "BRA", "CUB", "VEN"} <= members
    assert len(members) == 34
    assert "Nicaragua" in by_id["oas"].description
    assert "Venezuela" in by_id["oas"].description


def test_ecowas_excludes_sahel_states(by_id):
    members = codes(by_id, "ecowas")
    assert not members & {"BFA", "MLI", "NER", "MRT"}
    assert len(members) == 12


def test_asean_includes_timor_leste(by_id):
    assert len(by_id["asean"].members) == 11
    assert "TLS" in codes(by_id, "asean")


def test_every_agreement_has_an_https_source(by_id):
    for agreement in by_id.values():
        assert agreement.sources, agreement.agreement_id
        assert any(s.url.startswith("https://") for s in agreement.sources), agreement.agreement_id


def test_bilateral_agreements_have_two_members(by_id):
    bilateral = [a for a in by_id.values() if a.kind == "bilateral"]
    assert {"us-mex", "us-can"} <= {a.agreement_id for a in bilateral}
    for agreement in bilateral:
        assert len(agreement.members) == 2, agreement.agreement_id
    assert codes(by_id, "us-mex") == {"USA", "MEX"}
    assert codes(by_id, "us-can") == {"USA", "CAN"}


def test_frames(by_id):
    frame = ag.agreements_frame()
    assert list(frame.agreement_id) == list(by_id)
    assert dict(zip(frame.agreement_id, frame.member_count))["schengen"] == 29

    members = ag.members_frame()
    assert list(members.columns) == ["agreement_id", "iso3", "joined"]
    assert len(members) == sum(len(a.members) for a in by_id.values())
    assert set(members[members.agreement_id == "gcc"].iso3) == codes(by_id, "gcc")
    joined = members.joined.tolist()
    assert all(j is None or isinstance(j, str) for j in joined)
    assert None in joined  # at least one unknown date stays None, not NaN


# --------------------------------------------------------------------------- validation errors

def minimal_document():
    return {
        "schema_version": 1,
        "as_of": "2026-11-01",
        "agreements": [
            {
                "agreement_id": "multi",
                "name": "A multilateral agreement",
                "kind": "multilateral",
                "signed": "2000-01-01",
                "provisions": ["information_sharing"],
                "description": "Test agreement.",
                "sources": [{"title": "Example", "url": "https://example.org/agreement"}],
                "members": [
                    {"iso3": "FRA", "joined": "2000-01-01"},
                    {"iso3": "DEU", "joined": "2000"},
                    {"iso3": "XKX", "joined": None},
                ],
            },
            {
                "agreement_id": "pair",
                "name": "A bilateral agreement",
                "kind": "bilateral",
                "signed": "2010",
                "provisions": ["readmission", "joint_patrols"],
                "description": "Test agreement.",
                "sources": [{"title": "Example", "url": "https://example.org/pair"}],
                "members": [{"iso3": "USA", "joined": None}, {"iso3": "MEX", "joined": None}],
            },
        ],
    }


def single_error(document):
    errors = ag.validate(document)
    assert len(errors) == 1, errors
    return errors[0]


def test_minimal_document_is_valid():
    assert ag.validate(minimal_document()) == []


def test_unknown_iso3():
    doc = minimal_document()
    doc["agreements"][0]["members"][1]["iso3"] = "XYZ"
    message = single_error(doc)
    assert "'multi'" in message and "member 1" in message and "'iso3'" in message
    assert "unknown ISO 3166-1 alpha-3 code 'XYZ'" in message


@pytest.mark.parametrize("code", ["fra", "FR", "YUG", 250])
def test_iso3_must_be_current_upper_case_alpha3(code):
    doc = minimal_document()
    doc["agreements"][0]["members"][0]["iso3"] = code
    message = single_error(doc)
    assert "member 0" in message and "unknown ISO 3166-1 alpha-3 code" in message


def test_duplicate_member():
    doc = minimal_document()
    doc["agreements"][0]["members"].append({"iso3": "FRA", "joined": None})
    message = single_error(doc)
    assert "'multi'" in message and "member 3" in message
    assert "duplicate member 'FRA'" in message and "also member 0" in message


def test_duplicate_agreement_id():
    doc = minimal_document()
    doc["agreements"][1]["agreement_id"] = "multi"
    message = single_error(doc)
    assert "agreement 'multi' (#1)" in message and "'agreement_id'" in message
    assert "duplicate agreement id 'multi'" in message and "agreement #0" in message


def test_agreement_id_must_be_a_slug():
    doc = minimal_document()
    doc["agreements"][0]["agreement_id"] = "Not A Slug"
    assert "must be a lower-case slug" in single_error(doc)


def test_provision_outside_vocabulary():
    doc = minimal_document()
    doc["agreements"][1]["provisions"].append("drone_strikes")
    message = single_error(doc)
    assert "'pair'" in message and "'provisions[2]'" in message
    assert "'drone_strikes' is not in the provisions vocabulary" in message


def test_duplicate_and_empty_provisions():
    doc = minimal_document()
    doc["agreements"][1]["provisions"].append("readmission")
    assert "duplicate provision 'readmission'" in single_error(doc)
    doc = minimal_document()
    doc["agreements"][1]["provisions"] = []
    assert "'provisions': must be a non-empty list" in single_error(doc)


@pytest.mark.parametrize("bad", ["2023-02-30", "2023/01/01", "23-01-01", "2023-1-5", "March 2020", 2020])
def test_bad_joined_date(bad):
    doc = minimal_document()
    doc["agreements"][0]["members"][2]["joined"] = bad
    message = single_error(doc)
    assert "'multi'" in message and "member 2" in message and "'joined'" in message
    assert "bad date" in message


def test_bad_signed_date():
    doc = minimal_document()
    doc["agreements"][1]["signed"] = "2011-13-01"
    message = single_error(doc)
    assert "'pair'" in message and "'signed'" in message
    assert "bad date" in message and "not a real calendar date" in message


def test_dates_after_as_of_are_rejected():
    doc = minimal_document()
    doc["agreements"][0]["members"][0]["joined"] = "2027-01-01"
    assert "is after as_of '2026-11-01'" in single_error(doc)
    doc = minimal_document()
    doc["agreements"][1]["signed"] = "2030"
    assert "is after as_of" in single_error(doc)


def test_bad_as_of():
    doc = minimal_document()
    doc["as_of"] = "2026"
    assert "'as_of'" in single_error(doc)


@pytest.mark.parametrize("count", [1, 3])
def test_bilateral_needs_exactly_two_members(count):
    doc = minimal_document()
    doc["agreements"][1]["members"] = [
        {"iso3": code, "joined": None} for code in ("USA", "MEX", "CAN")[:count]
    ]
    message = single_error(doc)
    assert "'pair'" in message and "'members'" in message
    assert f"bilateral agreement needs exactly 2 members, got {count}" in message


@pytest.mark.parametrize("sources", [[], None])
def test_missing_sources(sources):
    doc = minimal_document()
    doc["agreements"][0]["sources"] = sources
    message = single_error(doc)
    assert "'multi'" in message and "'sources'" in message and "missing sources" in message


def test_sources_field_absent():
    doc = minimal_document()
    del doc["agreements"][0]["sources"]
    message = single_error(doc)
    assert "'multi'" in message and "'sources': missing" in message


def test_source_url_must_be_https():
    doc = minimal_document()
    doc["agreements"][0]["sources"][0]["url"] = "http://example.org/agreement"
    message = single_error(doc)
    assert "source 0" in message and "'url'" in message and "https://" in message


def test_bad_kind_and_unexpected_field():
    doc = minimal_document()
    doc["agreements"][0]["kind"] = "trilateral"
    assert "'kind': must be one of" in single_error(doc)
    doc = minimal_document()
    doc["agreements"][0]["members"][0]["note"] = "typo for joined?"
    assert "member 0 field 'note': unexpected field" in single_error(doc)


def test_all_errors_are_reported_together():
    doc = minimal_document()
    doc["agreements"][0]["members"][0]["iso3"] = "ZZZ"
    doc["agreements"][1]["provisions"] = ["nonsense"]
    doc["agreements"][1]["members"].pop()
    errors = ag.validate(doc)
    assert len(errors) == 3
    assert any("ZZZ" in e for e in errors)
    assert any("nonsense" in e for e in errors)
    assert any("exactly 2 members" in e for e in errors)


def test_not_a_document():
    assert ag.validate([]) == ["document: must be a JSON object, got list"]


def test_load_agreements_raises_with_every_error(tmp_path):
    doc = minimal_document()
    doc["agreements"][0]["members"][0]["iso3"] = "ZZZ"
    doc["agreements"][1]["sources"] = []
    path = tmp_path / "agreements.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        ag.load_agreements(path)
    text = str(raised.value)
    assert "2 problem(s)" in text and "ZZZ" in text and "missing sources" in text


def test_load_agreements_rejects_broken_json(tmp_path):
    path = tmp_path / "agreements.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        ag.load_agreements(path)


def test_load_agreements_from_valid_path(tmp_path):
    path = tmp_path / "agreements.json"
    path.write_text(json.dumps(minimal_document()), encoding="utf-8")
    loaded = ag.load_agreements(path)
    assert [a.agreement_id for a in loaded] == ["multi", "pair"]
    assert loaded[0].members[2] == ag.Member("XKX", None)
    assert loaded[1].provisions == ("readmission", "joint_patrols")
    frame = ag.members_frame(loaded)
    assert frame.joined.tolist() == ["2000-01-01", "2000", None, None, None]


def test_validate_does_not_mutate_input():
    doc = minimal_document()
    before = copy.deepcopy(doc)
    ag.validate(doc)
    assert doc == before
