"""`cerflow ingest eudamed` end to end: replayed EUDAMED -> real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.store.models import Device, SourceSnapshot
from tests.replay.eudamed_server import EudamedReplay

SRN = "AT-MF-000000252"
ZIRKON_UUID = "c7418f9f-3f31-4329-b2c1-956377dbe23b"


@pytest.fixture
def replay(shared_data: Path) -> Iterator[EudamedReplay]:
    with EudamedReplay(shared_data / "eudamed") as server:
        yield server


@pytest.fixture
def cli_env(
    replay: EudamedReplay, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("CERFLOW_EUDAMED_BASE_URL", replay.url)
    monkeypatch.setenv("CERFLOW_EUDAMED_DATALAKE_URL", replay.datalake_url)
    monkeypatch.setenv("CERFLOW_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield db_engine
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ingest", "eudamed", *args])
    return result.exit_code, result.output


def _summary_value(output: str, label: str) -> int:
    for line in output.splitlines():
        if label in line:
            return int(line.rsplit("│", 2)[-2].strip())
    raise AssertionError(f"{label!r} not in summary:\n{output}")


def _devices(engine: Engine) -> list[Device]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return list(session.scalars(select(Device).order_by(Device.udi_di)))


def test_ingest_by_srn_twice_is_unchanged(cli_env: Engine, replay: EudamedReplay) -> None:
    code, out = _run("--srn", SRN)
    assert code == 0, out
    assert _summary_value(out, "records received") == 61
    assert _summary_value(out, "inserted") == 61
    assert _summary_value(out, "rejected") == 0

    devices = _devices(cli_env)
    assert len(devices) == 61
    zirkon = next(d for d in devices if d.source_uuid == ZIRKON_UUID)
    # checked by hand against Delapro_README_07_devices_udiDiData_search_by_primaryDi.json
    assert (zirkon.source, zirkon.udi_di, zirkon.basic_udi_di) == (
        "eudamed_public",
        "E4947660611",
        "++E494ZIRKON5F5",
    )
    assert (zirkon.trade_name, zirkon.risk_class, zirkon.status) == (
        "Ceramill Zolid HT+ PS A3,5 71x16",
        "IIa",
        "on-the-market",
    )
    assert (zirkon.manufacturer_name, zirkon.manufacturer_srn) == ("Amann Girrbach AG", SRN)
    assert {d.risk_class for d in devices} == {"I", "IIa"}

    sent = replay.requests_to("/tools/eudamed/api/devices/udiDiData")
    assert [(r.query["page"], r.query["pageSize"]) for r in sent] == [("0", "300")]

    code, out = _run("--srn", SRN)
    assert code == 0, out
    assert _summary_value(out, "inserted") == 0
    assert _summary_value(out, "updated") == 0
    assert _summary_value(out, "unchanged") == 61
    assert len(_devices(cli_env)) == 61

    with cli_env.connect() as conn:
        snaps = conn.execute(
            select(SourceSnapshot.source, SourceSnapshot.record_count, SourceSnapshot.sha256)
        ).all()
    assert [(s[0], s[1]) for s in snaps] == [("eudamed_public", 61), ("eudamed_public", 61)]
    assert snaps[0][2] == snaps[1][2] and len(snaps[0][2]) == 64


def test_ingest_with_details_fills_the_model(cli_env: Engine, replay: EudamedReplay) -> None:
    code, out = _run("--udi-di", "E4947660611", "--details")
    assert code == 0, out
    assert _summary_value(out, "details fetched") == 1
    [device] = _devices(cli_env)
    assert device.model == "766061"  # `reference` of the real detail record
    assert device.risk_class == "IIa"  # from the search item, not lost by the merge


def test_ingest_from_the_datalake(cli_env: Engine, replay: EudamedReplay) -> None:
    code, out = _run("--srn", SRN, "--datalake")
    assert code == 0, out
    devices = _devices(cli_env)
    assert len(devices) == 61
    assert {d.source for d in devices} == {"eudamed_datalake"}
    zirkon = next(d for d in devices if d.source_uuid == ZIRKON_UUID)
    assert (zirkon.risk_class, zirkon.manufacturer_name, zirkon.status) == (
        "IIa",
        "Amann Girrbach AG",
        "on-the-market",
    )
    sent = replay.requests_to("/eudamed/udi")
    assert sent[0].query["MF_SRN"] == SRN


def test_ignored_filter_stores_nothing(cli_env: Engine, replay: EudamedReplay) -> None:
    _run("--srn", SRN)
    before = len(_devices(cli_env))
    replay.ignored_filters = {"primaryDi"}
    code, out = _run("--udi-di", "E4940000000")
    assert code == 1
    out = " ".join(out.split())  # rich wraps long lines
    assert "none of the 66 records returned matches the query" in out
    assert "Nothing was stored" in out
    assert len(_devices(cli_env)) == before
    with cli_env.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SourceSnapshot)).scalar_one() == 1


def test_no_filter_is_a_usage_error(cli_env: Engine) -> None:
    code, out = _run()
    assert code == 2
    assert "--udi-di" in out
