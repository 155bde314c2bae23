"""MAUDE bulk reader throughput and memory: synthetic current-layout files of N reports.

    uv run python benchmarks/maude_bulk.py --reports 200000

Prints JSON: rows read, documents, seconds, rows/s and the peak RSS growth while reading, so
a run at two sizes shows whether memory grows with file size (it should not: the join is on
disk). Each size runs in a fresh process so peak RSS is not inherited from a larger run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cerflow.sources.maude_bulk import MaudeBulkReader

TEXT = "PATIENT REPORTED THAT THE DEVICE STOPPED WORKING DURING USE. " * 8


def write_files(folder: Path, n: int) -> None:
    with (folder / "MDRFOI.txt").open("w", encoding="cp1252") as fh:
        fh.write(
            "MDR_REPORT_KEY|REPORT_NUMBER|REPORT_SOURCE_CODE|DATE_RECEIVED|DATE_OF_EVENT|"
            "EVENT_TYPE|TYPE_OF_REPORT|SOURCE_TYPE|DATE_ADDED|DATE_CHANGED\n"
        )
        for k in range(1, n + 1):
            fh.write(f"{k}|R-{k}|M|01/02/2020|12/30/2019|M|I|05|01/05/2020|\n")
    with (folder / "DEVICE2020.txt").open("w", encoding="cp1252") as fh:
        fh.write(
            "MDR_REPORT_KEY|DEVICE_EVENT_KEY|DEVICE_SEQUENCE_NO|BRAND_NAME|GENERIC_NAME|"
            "MANUFACTURER_D_NAME|DEVICE_REPORT_PRODUCT_CODE|UDI-DI|UDI-PUBLIC\n"
        )
        for k in range(n, 0, -1):  # reverse order: the join must not rely on sorted files
            fh.write(f"{k}|{k}|1|PUMP {k % 97}|INFUSION PUMP|ACME|FRN|0088{k}|(01)0088{k}\n")
    with (folder / "foitext.txt").open("w", encoding="cp1252") as fh:
        fh.write(
            "MDR_REPORT_KEY|MDR_TEXT_KEY|TEXT_TYPE_CODE|PATIENT_SEQUENCE_NUMBER|DATE_REPORT|"
            "FOI_TEXT\n"
        )
        for k in range(1, n + 1):
            fh.write(f"{k}|{k * 10}|D|1|01/02/2020|{TEXT}\u00e9\n")
    with (folder / "patient.txt").open("w", encoding="cp1252") as fh:
        fh.write("MDR_REPORT_KEY|PATIENT_SEQUENCE_NUMBER|SEQUENCE_NUMBER_OUTCOME|PATIENT_AGE\n")
        for k in range(1, n + 1):
            fh.write(f"{k}|1|1. H|{k % 90} YR\n")


def measure(n: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_files(folder, n)
        size = sum(p.stat().st_size for p in folder.iterdir())
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        reader = MaudeBulkReader([folder])
        docs = sum(1 for _ in reader)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(f.rows for f in reader.stats.files.values())
    return {
        "reports": n,
        "input_mb": round(size / 1e6, 1),
        "rows": rows,
        "documents": docs,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_rss_growth_mb": round((peak - base) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(measure(args.reports[0])))
        return
    for n in args.reports:
        out = subprocess.run(
            [sys.executable, __file__, "--single", "--reports", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
