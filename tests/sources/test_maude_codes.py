"""The MAUDE code tables equal FDA's own `enums.csv`, entry by entry."""

from __future__ import annotations

import csv
from pathlib import Path

from cerflow.sources import maude_codes


def test_code_tables_match_fda_enums(shared_data: Path) -> None:
    path = shared_data / "openfda_pipeline_tests/maude_data/enums.csv"
    fda: dict[str, dict[str, str]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            fda.setdefault(row["key_name"], {})[row["code"]] = row["code_desc"]
    # FDA's truncated key never matches the column; we leave it out on purpose (see module).
    assert "device_evaluated_by_manufactur" in fda
    del fda["device_evaluated_by_manufactur"]
    ours = {**maude_codes.SIMPLE_ENUMS, **maude_codes.MULTI_ENUMS}
    ours["sequence_number_outcome"] = maude_codes.SEQUENCE_NUMBER_OUTCOME
    assert ours == fda
