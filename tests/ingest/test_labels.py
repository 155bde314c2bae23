"""Drug label import: the openFDA replay server serves FDA's real Lipitor and Humira labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cerflow.config import Settings
from cerflow.ingest import IngestError, IngestInputError
from cerflow.ingest.labels import choose_label, ingest_label
from cerflow.store.labels import DrugLabel, read_label
from cerflow.store.models import SourceSnapshot
from tests.replay.labels import (
    HUMIRA_SET_ID,
    LIPITOR,
    LIPITOR_SET_ID,
    label_records,
    older_copy,
    spl_label,
)
from tests.replay.openfda_server import OpenFDAReplayServer

KEY = "label-secret-key-7"


@pytest.fixture
def server(shared_data: Path) -> Iterator[OpenFDAReplayServer]:
    lipitor = spl_label(shared_data, LIPITOR)
    records = [
        *label_records(shared_data),
        # a repackager's copy of the same text, older: the rule must not pick it
        older_copy(
            lipitor, set_id="aaaaaaaa-0000-0000-0000-000000000001", effective_time="20120101"
        ),
        # a combination product naming atorvastatin: another drug key, never chosen
        {
            **older_copy(
                lipitor, set_id="cccccccc-0000-0000-0000-000000000003", effective_time="20200101"
            ),
            "openfda": {"brand_name": ["CADUET"], "generic_name": ["AMLODIPINE AND ATORVASTATIN"]},
        },
    ]
    with OpenFDAReplayServer({"/drug/label.json": records}, api_key=KEY) as srv:
        yield srv


def _settings(server: OpenFDAReplayServer, tmp_path: Path) -> Settings:
    return Settings(
        openfda_base_url=server.base_url,
        openfda_api_key=KEY,
        openfda_requests_per_minute=60000,
        openfda_max_retries=1,
        data_dir=tmp_path,
    )


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_lipitor_label_is_fetched_chosen_and_stored(
    db_engine: Engine, server: OpenFDAReplayServer, tmp_path: Path
) -> None:
    settings = _settings(server, tmp_path)
    result = ingest_label(db_engine, settings=settings, drug="atorvastatin")
    assert result.matched == 3  # Lipitor, the repackager's copy, the combination
    assert result.candidates == 2  # the combination has another drug key
    assert result.label.set_id == LIPITOR_SET_ID
    assert result.label.version == 11
    assert result.label.effective_date == dt.date(2014, 1, 13)
    assert result.label.product_key == "ATORVASTATIN"
    assert result.load.inserted == 1
    # the request: label endpoint, names searched, newest first
    (req,) = server.requests_to("/drug/label.json")
    assert req.params["sort"] == "effective_time:desc"
    assert 'openfda.generic_name:"ATORVASTATIN"' in req.params["search"]

    stored = read_label(db_engine, ["ATORVASTATIN"])
    assert stored is not None
    assert stored["set_id"] == LIPITOR_SET_ID
    assert stored["version"] == 11
    assert stored["effective_date"] == dt.date(2014, 1, 13)
    assert stored["title"] == "LIPITOR (ATORVASTATIN CALCIUM)"
    assert set(stored["sections"]) == {"warnings_and_cautions", "adverse_reactions"}
    assert "myalgia" in stored["sections"]["adverse_reactions"][0].lower()
    assert stored["query"] == result.search
    assert KEY not in stored["location"] and "api_key=REDACTED" in stored["location"]
    assert len(stored["sha256"]) == 64
    assert stored["retrieved_at"].tzinfo is not None

    again = ingest_label(db_engine, settings=settings, drug="atorvastatin")
    assert (again.load.inserted, again.load.unchanged) == (0, 1)
    assert _count(db_engine, DrugLabel) == 1


def test_brand_name_and_humira(
    db_engine: Engine, server: OpenFDAReplayServer, tmp_path: Path
) -> None:
    settings = _settings(server, tmp_path)
    assert ingest_label(db_engine, settings=settings, drug="Humira").label.set_id == HUMIRA_SET_ID
    stored = read_label(db_engine, ["ADALIMUMAB"])
    assert stored is not None
    assert stored["version"] == 1560
    assert stored["effective_date"] == dt.date(2013, 9, 30)
    assert stored["sections"]["boxed_warning"][0].startswith("WARNING: SERIOUS INFECTIONS")
    by_set = ingest_label(db_engine, settings=settings, set_id=LIPITOR_SET_ID)
    assert by_set.label.set_id == LIPITOR_SET_ID
    assert read_label(db_engine, ["ATORVASTATIN"]) is not None


def test_no_label_or_bad_request_stores_nothing(
    db_engine: Engine, server: OpenFDAReplayServer, tmp_path: Path
) -> None:
    settings = _settings(server, tmp_path)
    with pytest.raises(IngestInputError, match="openFDA has no drug label for 'nosuchdrug'"):
        ingest_label(db_engine, settings=settings, drug="nosuchdrug")
    with pytest.raises(IngestInputError, match="either --drug NAME or --set-id"):
        ingest_label(db_engine, settings=settings, drug="x", set_id="y")
    # openFDA matches only the combination: not a label of amlodipine alone
    with pytest.raises(IngestInputError, match="pick one with --set-id") as info:
        ingest_label(db_engine, settings=settings, drug="amlodipine")
    assert "AMLODIPINE / ATORVASTATIN" in str(info.value)
    server.fail_next(500, times=5, path="/drug/label.json")
    with pytest.raises(IngestError, match="could not fetch drug labels") as err:
        ingest_label(db_engine, settings=settings, drug="atorvastatin")
    assert KEY not in str(err.value)
    assert _count(db_engine, DrugLabel) == 0
    assert _count(db_engine, SourceSnapshot) == 0


def test_malformed_record_names_the_field_and_stores_nothing(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    bad = spl_label(shared_data, LIPITOR)
    bad["effective_time"] = "2014-13-45"
    with OpenFDAReplayServer({"/drug/label.json": [bad]}) as srv:
        settings = Settings(
            openfda_base_url=srv.base_url, openfda_requests_per_minute=60000, data_dir=tmp_path
        )
        with pytest.raises(IngestError, match="effective_time") as info:
            ingest_label(db_engine, settings=settings, drug="atorvastatin")
    assert LIPITOR_SET_ID in str(info.value)
    assert _count(db_engine, DrugLabel) == 0


def test_choice_rule_prefers_the_newest_then_the_highest_version(shared_data: Path) -> None:
    from cerflow.etl.labels import label_to_canonical

    base = spl_label(shared_data, LIPITOR)
    docs = [
        older_copy(base, set_id="b", effective_time="20140113"),
        {**older_copy(base, set_id="c", effective_time="20140113"), "version": "12"},
        older_copy(base, set_id="a", effective_time="20100101"),
        {
            **older_copy(base, set_id="d", effective_time="20240101"),
            "adverse_reactions": None,
            "warnings_and_cautions": None,
        },  # newest, but no safety section
    ]
    labels = [label_to_canonical(d, location="memory") for d in docs]
    chosen, n = choose_label(labels, "atorvastatin")
    assert chosen is not None
    assert (chosen.set_id, n) == ("c", 3)
    chosen, n = choose_label(labels, "LIPITOR")  # the brand typed
    assert chosen is not None and chosen.set_id == "c"
    assert choose_label(labels, "simvastatin") == (None, 0)
