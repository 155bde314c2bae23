"""Keyed upserts of recalls and devices on SQLite and the real PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from cerflow.etl.load_keyed import load_devices, load_recalls
from cerflow.etl.records import CanonicalDevice, CanonicalRecall
from cerflow.sources.base import Provenance
from cerflow.store.models import Device, Recall

PROV = Provenance(source="test", location="memory://test", sha256="0" * 64)


def test_recalls_and_devices_upsert(db_engine: Engine) -> None:
    recall = CanonicalRecall(
        source="device_recall",
        recall_number="Z-1234-2024",
        product_type="device",
        classification="II",
        product_codes=["DQA"],
        report_date=dt.date(2024, 5, 2),
    )
    assert load_recalls(db_engine, [recall], PROV).inserted == 1
    assert load_recalls(db_engine, [recall], PROV).unchanged == 1
    recall.status = "Terminated"
    assert load_recalls(db_engine, [recall], PROV).updated == 1
    dev = CanonicalDevice(
        source="eudamed_public", source_uuid="u1", udi_di="0123", risk_class="IIb"
    )
    assert load_devices(db_engine, [dev, dev], PROV).inserted == 1
    with db_engine.connect() as conn:
        assert conn.execute(select(Recall.status, Recall.product_codes)).one() == (
            "Terminated",
            ["DQA"],
        )
        assert conn.execute(select(Device.risk_class)).scalar_one() == "IIb"
