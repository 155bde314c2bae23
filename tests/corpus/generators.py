"""Small generators of bad bulk files: each returns the path it wrote (see README.md).

FAERS quarters are zips of `$`-delimited tables; MAUDE files are `|`-delimited text.
Each generator makes one defect so a failure names one cause.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.sources.test_faers_ascii import DEMO_H, DRUG_H, REAC_H, demo_row, drug_row, make_zip


def _good_tables() -> dict[str, list[str | bytes]]:
    return {
        "demo": [demo_row(1001, 100, 1)],
        "drug": [drug_row(1001, 100, 1, "PS", "ASPIRIN", "ASPIRIN")],
        "reac": ["1001$100$Nausea$"],
    }


def faers_comma(path: Path) -> Path:
    """A FAERS quarter whose tables use commas instead of `$`."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, header, row in (
            ("DEMO", DEMO_H, demo_row(1001, 100, 1)),
            ("DRUG", DRUG_H, drug_row(1001, 100, 1, "PS", "ASPIRIN", "ASPIRIN")),
            ("REAC", REAC_H, "1001$100$Nausea$"),
        ):
            text = header.replace("$", ",") + "\n" + row.replace("$", ",") + "\n"
            zf.writestr(f"ascii/{name}17Q2.txt", text)
    return path


def faers_utf16(path: Path) -> Path:
    """A FAERS quarter re-encoded as UTF-16 (as Excel's "Unicode text" saves it)."""
    with zipfile.ZipFile(path, "w") as zf:
        for table, header, rows in (
            ("DEMO", DEMO_H, [demo_row(1001, 100, 1)]),
            ("DRUG", DRUG_H, [drug_row(1001, 100, 1, "PS", "ASPIRIN", "ASPIRIN")]),
            ("REAC", REAC_H, ["1001$100$Nausea$"]),
        ):
            zf.writestr(f"ascii/{table}17Q2.txt", "\n".join([header, *rows, ""]).encode("utf-16"))
    return path


def faers_truncated_zip(path: Path) -> Path:
    """A valid quarter cut in half (an interrupted download)."""
    whole = make_zip(path.with_suffix(".whole.zip"), _good_tables())
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


def faers_not_a_zip(path: Path) -> Path:
    """An HTML error page saved under a .zip name."""
    path.write_bytes(b"<html><body>502 Bad Gateway</body></html>\n")
    return path


def faers_empty(path: Path) -> Path:
    """A zero-byte file."""
    path.write_bytes(b"")
    return path


def faers_missing_table(path: Path) -> Path:
    """A quarter without its DRUG table."""
    tables = _good_tables()
    del tables["drug"]
    return make_zip(path, tables)


def faers_bomb(path: Path) -> Path:
    """A 4 MiB line of zeros that deflates to a few KiB: refused by the line limit."""
    return make_zip(path, {**_good_tables(), "reac": [b"1001$100$" + b"0" * (4 << 20)]})


def faers_short_row(path: Path) -> Path:
    """A DEMO row with too few fields."""
    return make_zip(path, {**_good_tables(), "demo": ["1001$100"]})


def faers_bad_numbers(path: Path) -> Path:
    """Ids that are huge, negative and not numbers at all."""
    return make_zip(
        path,
        {
            "demo": [demo_row(10**30, -5, 1), "abc$def$1" + "$" * 22],
            "drug": [drug_row(10**30, -5, 1, "PS", "ASPIRIN", "ASPIRIN")],
            "reac": [f"{10**30}$-5$Nausea$"],
        },
    )


def faers_nul(path: Path) -> Path:
    """NUL and other control bytes inside a row."""
    return make_zip(path, {**_good_tables(), "reac": [b"1001$100$Nau\x00sea\x1b$"]})


def faers_bad_dates(path: Path) -> Path:
    """An event date in month 99 and a year-0 FDA date."""
    return make_zip(
        path,
        {**_good_tables(), "demo": [demo_row(1001, 100, 1, event_dt="20219901", init_fda_dt="0")]},
    )


FAERS: dict[str, Callable[[Path], Path]] = {
    "comma_delimiter": faers_comma,
    "utf16": faers_utf16,
    "truncated_zip": faers_truncated_zip,
    "not_a_zip": faers_not_a_zip,
    "empty_file": faers_empty,
    "missing_table": faers_missing_table,
    "zip_bomb_line": faers_bomb,
    "short_row": faers_short_row,
    "bad_numbers": faers_bad_numbers,
    "nul_bytes": faers_nul,
    "out_of_range_dates": faers_bad_dates,
}


def maude_text(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


MAUDE: dict[str, tuple[str, bytes]] = {
    "empty_file": ("mdrfoiThru2023.txt", b""),
    "comma_delimiter": (
        "mdrfoiThru2023.txt",
        b"MDR_REPORT_KEY,EVENT_KEY,REPORT_NUMBER\n1,2,3\n",
    ),
    "utf16": ("mdrfoiThru2023.txt", "MDR_REPORT_KEY|REPORT_NUMBER\n1|2\n".encode("utf-16")),
    "header_only_garbage": ("mdrfoiThru2023.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    "not_a_zip": ("foidev2023.zip", b"<html>not a zip</html>"),
    "unknown_name": ("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
}
