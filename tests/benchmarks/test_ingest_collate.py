"""`benchmarks/ingest.py --ab-collate`: the order of the runs, the summary arithmetic (hand
computed below), and one real small run into databases that really have the collation
they are labelled with."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from benchmarks import ingest
from tests.conftest import PG_ADMIN_URL

STAGES = ingest.AB_FIGURES[1:]


def _fake_run(figures: dict[str, float]) -> dict[str, Any]:
    return {
        "import_s": figures["import_s"],
        "stages": {k: figures[k] for k in STAGES},
        "lc_collate": figures["collate"],
        "loadavg_1m_before": 1.0,
        "loadavg_1m_after": 1.0,
        "stored": {"reports": 3},
    }


def test_rounds_alternate_and_summary_is_medians_and_ratios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # server CPU per call, in call order; every other figure = server CPU / 2
    server = iter([10.0, 12.0, 30.0, 31.0, 13.0, 9.0, 11.0, 14.0, 29.0])
    order: list[str] = []

    def fake(_timer: Any, collate: str, *_args: Any) -> dict[str, Any]:
        order.append(collate)
        cpu = next(server)
        return _fake_run(
            {
                "collate": collate,
                "import_s": cpu / 2,
                **dict.fromkeys(STAGES, cpu / 2),
                "load_server_cpu_s": cpu,
            }
        )

    monkeypatch.setattr(ingest, "_pg_run", fake)
    args = argparse.Namespace(ab_rounds=3, ab_also=["en_US.UTF-8"])
    out = ingest.ab_collate(args, tmp_path / "q.zip", 1)
    forward = ["C", "C.UTF-8", "en_US.UTF-8"]
    assert order == forward + forward[::-1] + forward
    # C: 10, 9, 11 -> median 10; C.UTF-8: 12, 13, 14 -> 13; en_US: 30, 31, 29 -> 30
    median = out["median"]
    assert median["C"]["load_server_cpu_s"] == 10.0
    assert median["C.UTF-8"]["load_server_cpu_s"] == 13.0
    assert median["en_US.UTF-8"]["load_server_cpu_s"] == 30.0
    assert median["C"]["import_s"] == 5.0
    assert out["ratio_c_over_c_utf8"]["load_server_cpu_s"] == round(10 / 13, 3)
    assert out["ratio_over_c"]["en_US.UTF-8"]["load_server_cpu_s"] == 3.0
    assert out["server_cpu_c_minus_c_utf8_per_round"] == [-2.0, -4.0, -3.0]
    assert out["same_rows_stored"] is True
    assert [r["round"] for r in out["runs"]] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_a_database_not_made_as_asked_stops_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake(_timer: Any, collate: str, *_args: Any) -> dict[str, Any]:
        return _fake_run({"collate": "C.UTF-8", "import_s": 1.0, **dict.fromkeys(STAGES, 1.0)})

    monkeypatch.setattr(ingest, "_pg_run", fake)
    with pytest.raises(SystemExit, match=r"created with C\.UTF-8, not C$"):
        ingest.ab_collate(argparse.Namespace(ab_rounds=1, ab_also=[]), tmp_path / "q.zip", 1)


def test_small_real_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ingest, "PG_ADMIN", PG_ADMIN_URL)
    zip_path = tmp_path / "faers_ascii_2024q1.zip"
    counts = ingest.generate(zip_path, 1500)
    out = ingest.ab_collate(argparse.Namespace(ab_rounds=1, ab_also=[]), zip_path, 1)
    # lc_collate is read back from pg_database of each run's database
    assert [r["lc_collate"] for r in out["runs"]] == ["C", "C.UTF-8"]
    assert out["same_rows_stored"] is True
    stored = out["runs"][0]["stored"]
    assert stored["reports"] <= counts["demo"] and stored["report_products"] <= counts["drug"]
    assert stored["report_events"] > 0
    for run in out["runs"]:
        assert run["load_server_cpu_s"] == pytest.approx(
            run["load_server_backend_cpu_s"] + run["load_server_parallel_workers_cpu_s"], abs=0.011
        )
