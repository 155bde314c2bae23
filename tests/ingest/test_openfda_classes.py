"""`cerflow ingest openfda --drug` keeps the drugs' EPC classes (openfda.pharm_class_epc).

The replay dataset is built from the real openFDA drug event example; its ascorbic acid
drug carries an `openfda` block without `pharm_class_epc`, so the test adds the class
openFDA gives ascorbic acid ("Vitamin C [EPC]") to that block, as openFDA does for every
harmonized drug. The other drugs of the example have no `openfda` block: no class.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.store.models import ProductClass, SourceSnapshot
from tests.replay.openfda_server import OpenFDAReplayServer, build_dataset

VITAMIN_C = "Vitamin C [EPC]"
runner = CliRunner()


@pytest.fixture
def server(shared_data: Path) -> Iterator[OpenFDAReplayServer]:
    data = build_dataset(shared_data, drug_events=10, device_events=1, device_recalls=1)
    docs = copy.deepcopy(data["/drug/event.json"])
    for doc in docs:
        for drug in doc["patient"]["drug"]:
            if drug.get("openfda", {}).get("generic_name") == ["ASCORBIC ACID"]:
                drug["openfda"]["pharm_class_epc"] = [VITAMIN_C]
    data["/drug/event.json"] = docs
    with OpenFDAReplayServer(data) as srv:
        yield srv


def test_drug_import_stores_the_epc_class_with_its_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: OpenFDAReplayServer
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CERFLOW_DATABASE_URL", url)
    monkeypatch.setenv("CERFLOW_OPENFDA_BASE_URL", server.base_url)
    monkeypatch.setenv("CERFLOW_OPENFDA_REQUESTS_PER_MINUTE", "60000")
    get_settings.cache_clear()
    try:
        args = ["ingest", "openfda", "--drug", "ascorbic acid", "--no-recalls"]
        for _ in range(2):  # a re-import adds no second row
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ProductClass.product_key, ProductClass.class_name, ProductClass.source)
        ).all()
        snap = conn.execute(
            select(SourceSnapshot.id)
            .where(SourceSnapshot.source == "openfda:/drug/event.json")
            .order_by(SourceSnapshot.id.desc())
        ).first()
        linked = conn.execute(select(ProductClass.snapshot_id)).scalar_one()
    engine.dispose()
    assert rows == [("ASCORBIC ACID", VITAMIN_C, "openfda:/drug/event.json")]
    assert snap is not None and linked == snap[0]  # the latest import that confirmed it
