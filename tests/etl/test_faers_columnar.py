"""Columnar FAERS path against the per-record reference: same canonical values, same hashes,
same reader statistics, same errors; on the real samples, the bundled quarters and a
generated quarter carrying every known quirk."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerflow.etl.faers import faers_reports
from cerflow.etl.faers_columnar import QuarterFrames, read_faers_frames
from cerflow.etl.load_reports import frames_to_reports
from cerflow.etl.records import CanonicalReport
from cerflow.sources.base import SourceFormatError
from cerflow.sources.faers_ascii import FaersQuarter
from tests.sources.test_faers_ascii import make_zip

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "src/cerflow/sample/data/faers"


def demo(
    pid: int,
    caseid: int,
    version: int,
    *,
    event_dt: str = "201703",
    init_fda_dt: str = "20150928",
    fda_dt: str = "20170403",
    lit_ref: str = "",
    age: str = "55",
    age_cod: str = "YR",
    sex: str = "F",
    country: str = "US",
) -> str:
    return (
        f"{pid}${caseid}${version}$F${event_dt}$20170328${init_fda_dt}${fda_dt}$PER$$MFR-{pid}$"
        f"PFIZER${lit_ref}${age}${age_cod}$${sex}$Y$$$20170403$$CN$US${country}"
    )


def drug(
    pid: int, caseid: int, seq: object, role: str, name: str, ai: str, route: str = "Oral"
) -> str:
    return f"{pid}${caseid}${seq}${role}${name}${ai}$1${route}$$$$$$$$$$$$"


def reference(path: Path) -> tuple[list[CanonicalReport], dict[str, object]]:
    with FaersQuarter(path) as quarter:
        reports = list(faers_reports(quarter.records()))
        return reports, dict(quarter.stats)


def assert_equivalent(path: Path) -> QuarterFrames:
    frames = read_faers_frames(path)
    expected, stats = reference(path)
    got = frames_to_reports(frames.reports, frames.products, frames.events)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs  # every field, children in order
    assert frames.reports["content_hash"].to_list() == [r.content_hash() for r in expected]
    assert frames.stats == stats
    return frames


@pytest.mark.parametrize("name", ["aers_ascii_2004q1.zip", "faers_ascii_2017q2.zip"])
def test_real_quarters_equal_the_reference(shared_data: Path, name: str) -> None:
    frames = assert_equivalent(shared_data / "faers_ascii" / name)
    assert frames.reports.height > 0 and frames.products.height > 0


@pytest.mark.parametrize("path", sorted(SAMPLE_DIR.glob("*.zip")), ids=lambda p: p.name)
def test_bundled_sample_quarters_equal_the_reference(path: Path) -> None:
    frames = assert_equivalent(path)
    assert frames.slow_tables == []


def quirky_quarter(path: Path) -> Path:
    first, second = demo(1001, 100, 1, lit_ref="__LIT__").split("__LIT__")
    return make_zip(
        path,
        {
            "demo": [
                # embedded CRLF newline inside lit_ref, trailing `$`, cp1252 byte
                first.encode() + b"SMITH J.\r\nCAF\xc9 AU LAIT" + second.encode() + b"$\r",
                demo(1002, 100, 2, event_dt="2017", sex="M", age="3", age_cod="MON"),
                demo(1003, 100, 3, event_dt="", init_fda_dt="", age="", country=" "),
                demo(2001, 200, 1),
                demo(3001, 300, 1, sex="UNK", age="900"),
                demo(4001, 400, 1),
                demo(5002, 500, 2, age=" 41 ", age_cod="DEC"),
                demo(5001, 500, 1),
                demo(6001, 600, 1, event_dt="20170230x"[:0]),  # empty
            ],
            "drug": [
                drug(1001, 100, 1, "PS", "OLD", "OLD"),
                drug(1002, 100, 1, "PS", "MID", "MID"),
                drug(1003, 100, 1, "ps", "LIPITOR 20 MG", "ATORVASTATIN CALCIUM", route=" "),
                drug(1003, 100, 2, "C", "CAF\u00c9INE", "").encode("cp1252"),
                drug(1003, 100, 3, "I", "Bisoprolol\u2013x", " ").encode("cp1252"),
                drug(2001, 200, 1, "PS", "ASPIRIN", "ASPIRIN"),
                drug(3001, 300, " 7 ", "SS", "  ", ""),
                drug(5001, 500, 1, "PS", "A", "A"),
                drug(5002, 500, 1, "PS", "B", "B"),
                drug(9999, 999, 1, "PS", "ORPHAN", "ORPHAN"),
            ],
            "reac": [
                "1003$100$Caf\u00e9 au lait spots$",
                "1003$100$Nausea$",
                "1003$100$  NAUSEA $",  # the same PT twice in one case: kept once
                "1003$100$ $",
                "2001$200$Rash$",
                "3001$300$Headache$",
                "5002$500$Headache$",
            ],
            "outc": ["1003$100$HO", "1003$100$de", "3001$300$OT", "5001$500$DE"],
            "deleted": ["caseid", "200", "777"],
        },
    )


def test_generated_quarter_with_quirks_equals_the_reference(tmp_path: Path) -> None:
    frames = assert_equivalent(quirky_quarter(tmp_path / "q.zip"))
    assert frames.slow_tables == ["demo"]  # the embedded newline: the reference reader's rows
    assert frames.deleted_keys == ["200", "777"]
    assert frames.stats["deleted"] == 1 and frames.stats["superseded"] == 3
    reports = {r["source_key"]: r for r in frames.reports.iter_rows(named=True)}
    assert set(reports) == {"100", "300", "400", "500", "600"}
    assert reports["100"]["source_version"] == 3 and reports["100"]["death"] is True
    names = frames.products.filter(frames.products["report_row"] == reports["100"]["report_row"])
    assert names["raw_name"].to_list() == ["LIPITOR 20 MG", "CAF\u00c9INE", "Bisoprolol\u2013x"]
    assert names["product_key"].to_list()[0] == "ATORVASTATIN"


def test_mixed_encodings_stay_on_the_fast_path(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [demo(1001, 100, 1), demo(2001, 200, 1)],
            "drug": [
                drug(1001, 100, 1, "PS", "CAF\u00c9INE", "CAFFEINE").encode("cp1252"),
                drug(2001, 200, 1, "PS", "Caf\u00e9ine", "CAFFEINE"),
            ],
            "reac": [b"1001$100$Caf\xe9 au lait$", "2001$200$Caf\u00e9 au lait$".encode()],
        },
    )
    frames = assert_equivalent(path)
    assert frames.slow_tables == []
    assert frames.events["term_raw"].to_list() == ["Caf\u00e9 au lait"] * 2


def _both_errors(path: Path) -> tuple[SourceFormatError, SourceFormatError]:
    with pytest.raises(SourceFormatError) as mine:
        read_faers_frames(path)
    with pytest.raises(SourceFormatError) as theirs:
        reference(path)
    return mine.value, theirs.value


@pytest.mark.parametrize(
    ("tables", "member", "line", "field"),
    [
        ({"demo": [demo(1001, 100, 1), "10x2$200$1$" + "$" * 22]}, "DEMO", 3, "primaryid"),
        ({"drug": [drug(1001, 100, 1, "XX", "A", "A")]}, "DRUG", 2, "role_cod"),
        ({"drug": [drug(1001, 100, "a", "PS", "A", "A")]}, "DRUG", 2, "drug_seq"),
        ({"outc": ["1001$100$ZZ"]}, "OUTC", 2, "outc_cod"),
        ({"demo": [demo(1001, 100, 1, event_dt="2017131")]}, "DEMO", 2, "event_dt"),
        ({"demo": [demo(1001, 100, 1, init_fda_dt="20171340")]}, "DEMO", 2, "init_fda_dt"),
        ({"reac": ["1001$100$Rash$", "1001$100"]}, "REAC", 3, "pt"),
        ({"reac": ["1001$100$Rash$$$"]}, "REAC", 2, "#5 (after drug_rec_act)"),
    ],
)
def test_malformed_input_raises_the_reference_error(
    tmp_path: Path, tables: dict[str, list[str | bytes]], member: str, line: int, field: str
) -> None:
    base: dict[str, list[str | bytes]] = {
        "demo": [demo(1001, 100, 1)],
        "drug": [drug(1001, 100, 1, "PS", "A", "A")],
        "reac": ["1001$100$Rash$"],
        "outc": ["1001$100$HO"],
    }
    path = make_zip(tmp_path / "bad.zip", {**base, **tables})
    mine, theirs = _both_errors(path)
    assert str(mine) == str(theirs)
    assert member in mine.location and mine.line == line and mine.field == field
