"""MAUDE bulk reader on FDA's real pipeline fixtures, the current layout, quirks and bad files.

Oracle: `maude_one.json`, the joined document FDA's own openFDA pipeline produced from the
2014 files (the reader must agree on every key except the documented `*_exact` copies and the
accumulated `sequence_number_outcome`, whose descriptions must be the same set).
"""

from __future__ import annotations

import copy
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cerflow.sources.base import SourceFormatError
from cerflow.sources.maude_bulk import (
    MaudeBulkReader,
    classify,
    column_name,
    decode_line,
    outcome_descriptions,
)


def _docs(*paths: Path) -> dict[str, dict[str, Any]]:
    return {r.payload["mdr_report_key"]: r.payload for r in MaudeBulkReader(list(paths))}


@pytest.fixture(scope="module")
def maude_dir(shared_data: Path) -> Path:
    return shared_data / "openfda_pipeline_tests"


def _fda_outcomes(value: list[str]) -> set[str]:
    return {t.strip() for v in value for t in v.split(",") if t.strip() and not t.strip().isdigit()}


def test_2014_set_agrees_with_fda_joined_document(maude_dir: Path) -> None:
    expected = json.loads((maude_dir / "maude_2014/maude_one.json").read_text())
    got = _docs(maude_dir / "maude_2014")["538836"]
    fda_keys = {k for k in expected if not k.endswith("_exact")}
    assert set(got) == fda_keys
    for key in fda_keys - {"patient"}:
        assert got[key] == expected[key], key
    assert len(got["patient"]) == len(expected["patient"]) == 1
    mine, theirs = got["patient"][0], expected["patient"][0]
    assert set(mine) == {k for k in theirs if not k.endswith("_exact")}
    for key in set(mine) - {"sequence_number_outcome"}:
        assert mine[key] == theirs[key], key
    assert mine["sequence_number_outcome"] == ["Life Threatening", "Required Intervention"]
    assert set(mine["sequence_number_outcome"]) == _fda_outcomes(theirs["sequence_number_outcome"])
    # Values checked by hand against the raw rows, so the test does not only mirror FDA.
    assert got["date_received"] == "20040801"
    assert got["report_source_code"] == "Manufacturer report"
    assert got["event_type"] == "Injury"
    assert got["type_of_report"] == ["Initial submission"]
    assert got["remedial_action"] == ""
    assert "date_of_event" not in got  # empty dates are dropped
    assert got["device"][0]["device_operator"] == "HEALTH PROFESSIONAL"
    assert got["device"][0]["device_evaluated_by_manufacturer"] == "R"
    assert [t["text_type_code"] for t in got["mdr_text"]] == [
        "Description of Event or Problem",
        "Additional Manufacturer Narrative",
    ]


def test_2014_report_fda_rejected_is_joined(maude_dir: Path) -> None:
    # FDA's csv-based join choked on the lone quote in this brand name and rejected the report.
    doc = _docs(maude_dir / "maude_2014")["1511544"]
    assert doc["event_type"] == "Injury"
    assert doc["date_of_event"] == "20090908"
    assert doc["initial_report_to_fda"] == "Unknown"
    assert doc["patient"][0]["sequence_number_outcome"] == ["Other"]
    [device] = doc["device"]
    assert device["brand_name"] == '"TC 410, 20 GAUGE, 10MM DISPOS'
    assert device["generic_name"] == "PROBE, RADIOFREQUENCY LESION"
    assert device["device_report_product_code"] == "GXI"
    assert [t["mdr_text_key"] for t in doc["mdr_text"]] == ["7098023", "7098031"]
    assert "date_report" not in doc["mdr_text"][0]


def test_2014_stats_count_rows_and_orphans(maude_dir: Path) -> None:
    reader = MaudeBulkReader([maude_dir / "maude_2014"])
    keys = [r.payload["mdr_report_key"] for r in reader]
    assert keys == ["538836", "1511544"]  # ascending key order
    stats = reader.stats.as_dict()
    by_kind = {v["kind"]: v for v in stats["files"].values()}
    assert {k: v["rows"] for k, v in by_kind.items()} == {
        "master": 2,
        "device": 5,
        "patient": 2,
        "text": 4,
    }
    assert by_kind["device"]["orphans"] == 3  # reports 1511541-1511543 have no mdrfoi row
    assert stats["orphan_rows"] == 3
    assert stats["documents"] == 2
    assert reader.provenance.source == "maude_bulk"
    assert len(reader.provenance.sha256) == 64


def test_2016_files_without_master(maude_dir: Path) -> None:
    reader = MaudeBulkReader([maude_dir / "maude_2016"])
    docs = {r.payload["mdr_report_key"]: r.payload for r in reader}
    assert sorted(docs, key=int) == ["538836", "1511541", "1511542", "1511543", "1511544"]
    # The CSV-escaped brand name reads as the raw 2014 value.
    assert docs["1511544"]["device"][0]["brand_name"] == '"TC 410, 20 GAUGE, 10MM DISPOS'
    assert docs["1511544"]["device"][0]["manufacturer_d_zip_code_ext"] == "1"
    assert docs["538836"]["patient"][0]["sequence_number_outcome"] == [
        "Life Threatening",
        "Required Intervention",
    ]
    assert docs["1511542"]["patient"][0]["sequence_number_outcome"] == ["Hospitalization"]
    assert docs["1511541"]["patient"][0]["sequence_number_outcome"] == []
    assert docs["1511541"]["patient"][0]["date_received"] == "20091006"
    assert [t["mdr_text_key"] for t in docs["1511541"]["mdr_text"]] == ["18359358", "18369661"]
    assert docs["1511541"]["device"][0]["baseline_510_k__flag"] == ""
    assert set(docs["1511541"]) == {"mdr_report_key", "patient", "device", "mdr_text"}
    device_stats = next(v for v in reader.stats.files.values() if v.kind == "device")
    assert device_stats.padded_rows == 4  # rows cut after the 28th of 45 columns


def _split(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in path.read_text(encoding="latin-1").splitlines() if ln]
    return lines[0].split("|"), [ln.split("|") for ln in lines[1:]]


def _write(path: Path, header: list[str], rows: list[list[str]], newline: str = "\r\n") -> None:
    text = newline.join("|".join(r) for r in [header, *rows]) + newline
    path.write_bytes(text.encode("cp1252"))


def _current_layout(src: Path, dst: Path) -> None:
    """The 2014 files as FDA ships them today: UPPER-CASE headers, renames, extra columns."""
    dst.mkdir()
    header, rows = _split(src / "mdrfoi.txt")
    _write(
        dst / "MDRFOI.txt",
        [h.upper() for h in header] + ["DATE_ADDED", "DATE_CHANGED", "REPORTER_COUNTRY_CODE"],
        [[*r, "08/05/2004", "01/02/2015", "US"] for r in rows],
    )
    header, rows = _split(src / "foidev.txt")
    renamed = ["DEVICE_SEQUENCE_NO" if h == "device_sequence_number" else h.upper() for h in header]
    renamed[renamed.index("DEVICE_EVALUATED_BY_MANUFACTURER")] = "DEVICE_EVALUATED_BY_MANUFACTUR"
    # UDI columns in the middle too: mapping is by name, not position.
    _write(
        dst / "DEVICE2014.txt",
        [*renamed[:3], "UDI-DI", "UDI-PUBLIC", *renamed[3:]],
        [[*r[:3], f"0088{r[0]}", f"(01)0088{r[0]}", *r[3:]] for r in rows],
    )
    header, rows = _split(src / "patient.txt")
    order = [4, 0, 1, 2, 3]  # columns shuffled
    _write(
        dst / "patient.txt",
        [header[i].upper() for i in order] + ["PATIENT_AGE", "PATIENT_SEX"],
        [[r[i] for i in order] + ["65 YR", "Female"] for r in rows],
    )
    header, rows = _split(src / "foitext.txt")
    _write(
        dst / "foitext.txt",
        [("FOI_TEXT" if h == "text" else h.upper()) for h in header],
        rows,
    )
    (dst / "foidevproblem.txt").write_text("538836|2993\r\n538836|1070\r\n1511544|2993\r\n")
    (dst / "deviceproblemcodes.csv").write_text(
        "DEVICE_PROBLEM_CODE,DEVICE_PROBLEM_DESCRIPTION\r\n"
        '2993,"Adverse Event Without Identified Device or Use Problem"\r\n'
        "1070,Break\r\n"
    )


def test_current_upper_case_layout_gives_the_same_documents(
    maude_dir: Path, tmp_path: Path
) -> None:
    legacy = _docs(maude_dir / "maude_2014")
    _current_layout(maude_dir / "maude_2014", tmp_path / "current")
    current = _docs(tmp_path / "current")
    assert set(current) == set(legacy)
    for key, doc in legacy.items():
        expected = copy.deepcopy(doc)
        expected.update(date_added="20040805", date_changed="20150102", reporter_country_code="US")
        for device in expected["device"]:
            device.update(udi_di=f"0088{key}", udi_public=f"(01)0088{key}")
        for patient in expected["patient"]:
            patient.update(patient_age="65 YR", patient_sex="Female")
        expected["product_problems"] = {
            "538836": ["Adverse Event Without Identified Device or Use Problem", "Break"],
            "1511544": ["Adverse Event Without Identified Device or Use Problem"],
        }[key]
        assert current[key] == expected


def test_zip_reads_like_the_directory(maude_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "maude.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("mdrfoi.txt", "foidev.txt", "patient.txt", "foitext.txt"):
            zf.write(maude_dir / "maude_2014" / name, f"maude/{name}")
    assert _docs(archive) == _docs(maude_dir / "maude_2014")


def _mini(tmp_path: Path, *, mdrfoi: bytes | None = None, foitext: bytes | None = None) -> Path:
    folder = tmp_path / "mini"
    folder.mkdir(exist_ok=True)
    (folder / "mdrfoi.txt").write_bytes(
        mdrfoi
        or b"MDR_REPORT_KEY|DATE_RECEIVED|EVENT_TYPE|REPORT_SOURCE_CODE\r\n"
        b"7|01/02/2020|D|P\r\n"
        b"8|03/04/2021|M|U|\r\n"  # stray trailing delimiter
    )
    (folder / "foidev.txt").write_bytes(
        b"MDR_REPORT_KEY|DEVICE_SEQUENCE_NO|BRAND_NAME|DEVICE_REPORT_PRODUCT_CODE\r\n"
        b"7|1|CAF\xc9 PUMP\r\nMODEL 2|dqa\r\n"  # line break inside the brand name
        b"8|1|ROUTER|LZG\r\n"
    )
    (folder / "foitext.txt").write_bytes(
        foitext
        or b"MDR_REPORT_KEY|MDR_TEXT_KEY|TEXT_TYPE_CODE|PATIENT_SEQUENCE_NUMBER|DATE_REPORT|"
        b"FOI_TEXT\n"
        b"7|70|D|1|01/02/2020|PATIENT D\xc9C\xc9D\xc9 \x93AT HOME\x94\n"
        b"\n"
        b"SECOND PARAGRAPH WITH A | PIPE\x81\n"
        b"8|80|D|1||DEVICE STOPPED\n"
    )
    return folder


def test_embedded_newlines_latin1_and_stray_delimiters(tmp_path: Path) -> None:
    reader = MaudeBulkReader([_mini(tmp_path)])
    docs = {r.payload["mdr_report_key"]: r.payload for r in reader}
    assert docs["7"]["event_type"] == "Death"
    assert docs["7"]["report_source_code"] == "Voluntary report"
    assert docs["8"]["report_source_code"] == "User Facility report"
    assert docs["7"]["device"][0]["brand_name"] == "CAF\u00c9 PUMP\nMODEL 2"
    assert docs["7"]["device"][0]["device_report_product_code"] == "dqa"
    assert docs["7"]["mdr_text"][0]["text"] == (
        "PATIENT D\u00c9C\u00c9D\u00c9 \u201cAT HOME\u201d\n\nSECOND PARAGRAPH WITH A | PIPE\u0081"
    )
    assert docs["8"]["mdr_text"][0]["text"] == "DEVICE STOPPED"
    files = {v.kind: v for v in reader.stats.files.values()}
    assert files["device"].continued_lines == 1
    assert files["text"].continued_lines == 1
    assert files["master"].rows == 2


def test_utf8_lines_and_cp1252_lines_both_decode() -> None:
    assert decode_line("CAF\u00c9".encode()) == "CAF\u00c9"
    assert decode_line(b"CAF\xc9") == "CAF\u00c9"
    assert decode_line(b"\x80 \x9d") == "\u20ac \x9d"


@pytest.mark.parametrize(
    ("mdrfoi", "foitext", "file", "line", "field"),
    [
        (
            b"MDR_REPORT_KEY|DATE_RECEIVED|EVENT_TYPE\n7|01/02/2020|D\nX8|01/02/2020|M\n",
            None,
            "mdrfoi.txt",
            3,
            "mdr_report_key",
        ),
        (
            b"MDR_REPORT_KEY|DATE_RECEIVED|EVENT_TYPE\n7|01/02/2020|D\n8|13/45/2020|M\n",
            None,
            "mdrfoi.txt",
            3,
            "date_received",
        ),
        (
            b"MDR_REPORT_KEY|DATE_RECEIVED|EVENT_TYPE\n7|01/02/2020|D|extra|more\n",
            None,
            "mdrfoi.txt",
            2,
            "event_type",
        ),
        (
            None,
            b"MDR_REPORT_KEY|MDR_TEXT_KEY|TEXT_TYPE_CODE|PATIENT_SEQUENCE_NUMBER|DATE_REPORT|TEXT\n"
            b"7|70|D|1|01/02/2020|OK\n8|80|D|1|2020-99-01|BAD DATE\n",
            "foitext.txt",
            3,
            "date_report",
        ),
        (
            b"REPORT_KEY|DATE_RECEIVED\n7|01/02/2020\n",
            None,
            "mdrfoi.txt",
            1,
            None,
        ),
    ],
)
def test_malformed_files_name_file_line_and_field(
    tmp_path: Path,
    mdrfoi: bytes | None,
    foitext: bytes | None,
    file: str,
    line: int,
    field: str | None,
) -> None:
    folder = _mini(tmp_path, mdrfoi=mdrfoi, foitext=foitext)
    reader = MaudeBulkReader([folder])
    with pytest.raises(SourceFormatError) as info:
        next(iter(reader))  # fails before the first document: nothing can be half-stored
    err = info.value
    assert err.location == str(folder / file)
    assert err.line == line
    assert err.field == field
    assert str(folder / file) in str(err) and f"line {line}" in str(err)


def test_unknown_or_missing_paths_are_refused(tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(SourceFormatError, match="not a MAUDE bulk file name"):
        MaudeBulkReader([stray])
    with pytest.raises(SourceFormatError, match="no such file"):
        MaudeBulkReader([tmp_path / "absent"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceFormatError, match="no MAUDE bulk file found"):
        MaudeBulkReader([empty])


def test_duplicate_reports_keep_the_latest_change(tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    head = b"MDR_REPORT_KEY|EVENT_TYPE|DATE_CHANGED\n"
    (folder / "mdrfoithru2023.txt").write_bytes(head + b"5|M|01/01/2023\n6|M|\n6|IN|\n")
    (folder / "mdrfoiChange.txt").write_bytes(head + b"5|D|02/01/2023\n")
    (folder / "mdrfoi_old.txt").write_bytes(head + b"5|IN|12/31/2022\n")
    (folder / "foidev.txt").write_bytes(
        b"MDR_REPORT_KEY|DEVICE_EVENT_KEY|DEVICE_SEQUENCE_NO|DEVICE_REPORT_PRODUCT_CODE\n"
        b"5|50|1|DQA\n5|50|1|DQA\n6|60|1|LZG\n9|90|1|ABC\n"
    )
    reader = MaudeBulkReader([folder])
    docs = {r.payload["mdr_report_key"]: r.payload for r in reader}
    assert docs["5"]["event_type"] == "Death"  # latest DATE_CHANGED wins, whatever the file
    assert docs["6"]["event_type"] == "Injury"  # no DATE_CHANGED: the row read last wins
    assert len(docs["5"]["device"]) == 1
    assert reader.stats.duplicate_reports == 3
    assert reader.stats.child_duplicates == 1
    assert reader.stats.orphan_rows == 1


def test_names_and_columns() -> None:
    assert classify("MDRFOI.txt") == "master"
    assert classify("mdrfoiChange.txt") == "master"
    assert classify("DEVICE2023.txt") == "device"
    assert classify("foidev.txt") == "device"
    assert classify("foidevproblem.txt") == "device_problem"
    assert classify("deviceproblemcodes.csv") == "device_problem_codes"
    assert classify("patientproblemcode.txt") == "patient_problem"
    assert classify("patientproblemcodes.csv") == "patient_problem_codes"
    assert classify("patientThru2023.txt") == "patient"
    assert classify("foitext2023.txt") == "text"
    assert classify("readme.txt") is None
    assert column_name("UDI-DI") == "udi_di"
    assert column_name("MANUFACTURER_LINK_FLAG_") == "manufacturer_link_flag"
    assert column_name("DEVICE_SEQUENCE_NO") == "device_sequence_number"
    assert column_name("FOI_TEXT") == "text"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,L;2,R;", ["Life Threatening", "Required Intervention"]),
        ("1. L; 2. R", ["Life Threatening", "Required Intervention"]),
        ("1. H", ["Hospitalization"]),
        ("D", ["Death"]),
        ("", []),
    ],
)
def test_outcome_codes(raw: str, expected: list[str]) -> None:
    assert outcome_descriptions(raw) == expected


def test_patient_problems_attach_to_their_patient(tmp_path: Path) -> None:
    folder = _mini(tmp_path)
    (folder / "patient.txt").write_bytes(
        b"MDR_REPORT_KEY|PATIENT_SEQUENCE_NUMBER|SEQUENCE_NUMBER_OUTCOME\n7|1|D\n7|2|H\n"
    )
    (folder / "patientproblemcode.txt").write_bytes(
        b"MDR_REPORT_KEY|PATIENT_SEQUENCE_NO|PROBLEM_CODE|DATE_ADDED|DATE_CHANGED\n"
        b"7|1|1802|01/02/2020|\n7|2|2199|01/02/2020|\n7|2|9999|01/02/2020|\n"
    )
    (folder / "patientproblemcodes.csv").write_text("1802,Death\n2199,No Known Impact\n")
    docs = _docs(folder)
    assert [p["patient_problems"] for p in docs["7"]["patient"]] == [
        ["Death"],
        ["No Known Impact", "9999"],
    ]
    assert docs["8"]["patient"] == []
    assert re.fullmatch(r"\d{8}", docs["7"]["date_received"])
