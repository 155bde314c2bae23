"""FAERS quarterly ASCII reader on the real 2004 (legacy) and 2017 (current) samples and on
hand-built zips carrying each known quirk or defect."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cerflow.sources.base import SourceFormatError
from cerflow.sources.faers_ascii import FaersQuarter, read_faers_quarter

DEMO_H = (
    "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$auth_num$"
    "mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$wt_cod$rept_dt$to_mfr$occp_cod$"
    "reporter_country$occr_country"
)
DRUG_H = (
    "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route$dose_vbm$cum_dose_chr$"
    "cum_dose_unit$dechal$rechal$lot_num$exp_dt$nda_num$dose_amt$dose_unit$dose_form$dose_freq"
)
REAC_H = "primaryid$caseid$pt$drug_rec_act"
OUTC_H = "primaryid$caseid$outc_cod"


def demo_row(
    pid: int,
    caseid: int,
    version: int,
    *,
    event_dt: str = "201703",
    lit_ref: str = "",
    age: str = "55",
    age_cod: str = "YR",
    sex: str = "F",
    init_fda_dt: str = "20150928",
    country: str = "US",
) -> str:
    return (
        f"{pid}${caseid}${version}$F${event_dt}$20170328${init_fda_dt}$20170403$PER$$MFR-{pid}$"
        f"PFIZER${lit_ref}${age}${age_cod}$$$Y$$$20170403$$CN$US${country}"
    )


def drug_row(pid: int, caseid: int, seq: int, role: str, name: str, ai: str) -> str:
    return f"{pid}${caseid}${seq}${role}${name}${ai}$1$Oral$$$$$$$$$$$$"


def make_zip(path: Path, tables: dict[str, list[str | bytes]], quarter: str = "17Q2") -> Path:
    """Write `ascii/<TABLE><quarter>.txt` members (str lines, or bytes for raw content) and,
    for a `deleted` entry, the quarter's deleted-cases list (its lines as given)."""
    headers = {"demo": DEMO_H, "drug": DRUG_H, "reac": REAC_H, "outc": OUTC_H}
    with zipfile.ZipFile(path, "w") as zf:
        for table, lines in tables.items():
            deleted = table.startswith("deleted")
            body: bytes = b"" if deleted else (headers[table] + "\n").encode()
            for line in lines:
                body += (line.encode() if isinstance(line, str) else line) + b"\n"
            name = (
                f"deleted/DELE{quarter}.txt" if deleted else f"ascii/{table.upper()}{quarter}.txt"
            )
            zf.writestr(name, body)
    return path


def simple_quarter(path: Path) -> Path:
    return make_zip(
        path,
        {
            "demo": [demo_row(1001, 100, 1), demo_row(2002, 200, 2)],
            "drug": [
                drug_row(1001, 100, 1, "PS", "XELJANZ", "TOFACITINIB CITRATE"),
                drug_row(2002, 200, 1, "PS", "ASPIRIN", "ASPIRIN"),
            ],
            "reac": ["1001$100$Nausea$", "2002$200$Headache$"],
            "outc": ["1001$100$HO"],
        },
    )


# -- real samples ---------------------------------------------------------------------------


def _raw_table(zip_path: Path, prefix: str) -> list[list[str]]:
    """Independent oracle: the member's rows split on `$` (the samples have no quirks)."""
    with zipfile.ZipFile(zip_path) as zf:
        name = next(n for n in zf.namelist() if n.split("/")[-1].upper().startswith(prefix))
        lines = zf.read(name).decode("latin-1").splitlines()
    return [line.split("$") for line in lines[1:] if line]


@pytest.mark.parametrize(
    ("name", "layout", "case_col"),
    [("aers_ascii_2004q1.zip", "aers", 1), ("faers_ascii_2017q2.zip", "faers", 1)],
)
def test_real_zip_every_report_accounted_for(
    shared_data: Path, name: str, layout: str, case_col: int
) -> None:
    path = shared_data / "faers_ascii" / name
    demo = _raw_table(path, "DEMO")
    distinct_cases = {row[case_col] for row in demo}
    with FaersQuarter(path) as quarter:
        records = list(quarter.records())
        stats = quarter.stats
    assert stats["layout"] == layout
    assert stats["demo_rows"] == len(demo) == 100
    assert len(records) == len(distinct_cases)
    assert stats["cases"] + stats["superseded"] + stats["deleted"] + stats[
        "duplicate_primaryid"
    ] == len(demo)
    for table in ("DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
        raw = _raw_table(path, table)
        assert stats["rows_read"][table.lower()] == len(raw)
        joined = sum(len(r.payload[table.lower()]) for r in records)
        assert joined + stats["orphans"][table.lower()] == len(raw)
    assert stats["indexed_tables"] == []


def test_real_2017_case_joined_field_by_field(shared_data: Path) -> None:
    path = shared_data / "faers_ascii" / "faers_ascii_2017q2.zip"
    case = next(
        r.payload for r in read_faers_quarter(path) if r.payload["demo"]["primaryid"] == "115630624"
    )
    demo = case["demo"]
    assert (demo["caseid"], demo["caseversion"], demo["event_dt"]) == ("11563062", "4", "201507")
    assert (demo["init_fda_dt"], demo["fda_dt"], demo["age"], demo["sex"]) == (
        "20150928",
        "20170403",
        "55",
        "F",
    )
    assert demo["occr_country"] == "US" and demo["_line"] == 4
    assert [(d["drug_seq"], d["role_cod"], d["drugname"], d["prod_ai"]) for d in case["drug"]] == [
        ("1", "PS", "XELJANZ", "TOFACITINIB CITRATE"),
        ("2", "C", "CALCIUM", "CALCIUM"),
        ("3", "C", "MELATONIN", "MELATONIN"),
        ("4", "C", "MULTI VITAMIN", "VITAMINS"),
        ("5", "C", "VITAMIN C", "ASCORBIC ACID"),
        ("6", "C", "VITAMIN E", ".ALPHA.-TOCOPHEROL"),
        ("7", "C", "ZYRTEC", "CETIRIZINE HYDROCHLORIDE"),
    ]
    assert case["drug"][0]["dose_vbm"] == "5 MG, 2X/DAY" and case["drug"][0]["lot_num"] == "L83382"
    assert [r["pt"] for r in case["reac"]] == ["Lung infection", "Skin cancer"]
    assert [o["outc_cod"] for o in case["outc"]] == ["OT"]
    assert [(t["start_dt"], t["end_dt"]) for t in case["ther"]] == [("20150327", "201507")]
    assert [i["indi_pt"] for i in case["indi"]] == ["Rheumatoid arthritis"]
    assert case["rpsr"] == []


def test_real_2004_legacy_case(shared_data: Path) -> None:
    path = shared_data / "faers_ascii" / "aers_ascii_2004q1.zip"
    case = next(
        r.payload for r in read_faers_quarter(path) if r.payload["demo"]["isr"] == "4263742"
    )
    assert case["layout"] == "aers"
    assert case["demo"]["case"] == "4061110" and case["demo"]["gndr_cod"] == "F"
    assert [d["drugname"] for d in case["drug"]][:3] == ["TAVOR", "ALCOHOL", "CITALOPRAM"]
    assert case["drug"][2]["dose_vbm"] == "3600 MG ONCE PO"
    assert [r["pt"] for r in case["reac"]][:3] == ["DIARRHOEA", "INTENTIONAL OVERDOSE", "MYDRIASIS"]
    assert [o["outc_cod"] for o in case["outc"]] == ["HO"]


# -- dedup ------------------------------------------------------------------------------------


def test_latest_caseversion_wins_and_deleted_cases_dropped(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [
                demo_row(1001, 100, 1),
                demo_row(1003, 100, 3),
                demo_row(1002, 100, 2),
                demo_row(2001, 200, 1),
                demo_row(3001, 300, 1),
            ],
            "drug": [
                drug_row(1001, 100, 1, "PS", "OLD", "OLD"),
                drug_row(1003, 100, 1, "PS", "NEW", "NEW"),
                drug_row(1002, 100, 1, "PS", "MID", "MID"),
                drug_row(2001, 200, 1, "PS", "A", "A"),
                drug_row(3001, 300, 1, "PS", "B", "B"),
                drug_row(9999, 999, 1, "PS", "ORPHAN", "ORPHAN"),
            ],
            "reac": ["1003$100$Rash$", "2001$200$Rash$"],
            "deleted": ["200"],
        },
    )
    with FaersQuarter(path) as quarter:
        records = list(quarter.records())
        stats = quarter.stats
    assert [r.payload["demo"]["primaryid"] for r in records] == ["1003", "3001"]
    assert [d["drugname"] for d in records[0].payload["drug"]] == ["NEW"]
    assert stats["superseded"] == 2 and stats["deleted"] == 1 and stats["cases"] == 2
    assert stats["superseded_child_rows"] == 4  # OLD, MID, case 200's drug and reaction
    assert stats["orphans"]["drug"] == 1


def test_unsorted_child_table_falls_back_to_index(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1), demo_row(3001, 300, 1)],
            "drug": [
                drug_row(3001, 300, 1, "PS", "C", "C"),
                drug_row(1001, 100, 1, "PS", "A", "A"),
                drug_row(2001, 200, 1, "PS", "B", "B"),
                drug_row(1001, 100, 2, "C", "A2", "A2"),
            ],
            "reac": ["1001$100$Rash$"],
        },
    )
    with FaersQuarter(path) as quarter:
        records = list(quarter.records())
        assert quarter.stats["indexed_tables"] == ["drug"]
    assert [[d["drugname"] for d in r.payload["drug"]] for r in records] == [
        ["A", "A2"],
        ["B"],
        ["C"],
    ]


# -- quirks -----------------------------------------------------------------------------------


def test_trailing_dollar_embedded_newline_crlf_and_cp1252(tmp_path: Path) -> None:
    lit = "SMITH J. CAF\xc9 AU LAIT SPOTS."
    row = demo_row(1001, 100, 1, lit_ref="__LIT__")
    first, second = row.split("__LIT__")
    path = make_zip(
        tmp_path / "q.zip",
        {
            "demo": [
                first.encode() + b"SMITH J.\r\nCAF\xc9 AU LAIT" + second.encode() + b"$\r",
                demo_row(2001, 200, 1).encode("ascii") + b"$\r",
            ],
            "drug": [
                drug_row(1001, 100, 1, "PS", "CAF\u00c9INE", "CAFFEINE").encode("cp1252"),
                drug_row(2001, 200, 1, "PS", "Bisoprolol\u2013x", "BISOPROLOL").encode("cp1252"),
            ],
            "reac": ["1001$100$Caf\u00e9 au lait spots$".encode(), b"2001$200$Rash$"],
        },
    )
    records = list(read_faers_quarter(path))
    assert len(records) == 2
    demo = records[0].payload["demo"]
    assert demo["lit_ref"] == "SMITH J.\nCAF\u00c9 AU LAIT"
    assert demo["occr_country"] == "US" and demo["_line"] == 2
    assert records[1].payload["demo"]["_line"] == 4  # line numbers count physical lines
    assert records[0].payload["drug"][0]["drugname"] == "CAF\u00c9INE"
    assert records[1].payload["drug"][0]["drugname"] == "Bisoprolol\u2013x"
    assert records[0].payload["reac"][0]["pt"] == "Caf\u00e9 au lait spots"
    assert lit  # the text is latin-1 in the file, decoded as cp1252


# -- malformed ----------------------------------------------------------------------------


def _error(path: Path) -> SourceFormatError:
    with pytest.raises(SourceFormatError) as info:
        list(read_faers_quarter(path))
    return info.value


def test_bad_primaryid_in_demo(tmp_path: Path) -> None:
    path = simple_quarter(tmp_path / "ok.zip")
    bad = make_zip(
        tmp_path / "bad.zip",
        {
            "demo": [demo_row(1001, 100, 1), demo_row(2002, 200, 2).replace("2002", "20X2", 1)],
            "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
            "reac": [],
        },
    )
    assert len(list(read_faers_quarter(path))) == 2
    err = _error(bad)
    assert (err.location, err.line, err.field) == ("ascii/DEMO17Q2.txt", 3, "primaryid")
    assert "20X2" in str(err)


def test_bad_primaryid_in_child_table(tmp_path: Path) -> None:
    bad = make_zip(
        tmp_path / "bad.zip",
        {
            "demo": [demo_row(1001, 100, 1)],
            "drug": [drug_row(1001, 100, 1, "PS", "A", "A")],
            "reac": ["1001$100$Rash$", "$100$Rash$"],
        },
    )
    err = _error(bad)
    assert (err.location, err.line, err.field) == ("ascii/REAC17Q2.txt", 3, "primaryid")


def test_truncated_row_followed_by_a_row(tmp_path: Path) -> None:
    bad = make_zip(
        tmp_path / "bad.zip",
        {
            "demo": [demo_row(1001, 100, 1), demo_row(2001, 200, 1)],
            "drug": [
                "1001$100$1$PS$ASPIRIN",  # cut after drugname (5 of 20 fields)
                drug_row(2001, 200, 1, "PS", "B", "B"),
            ],
            "reac": [],
        },
    )
    err = _error(bad)
    assert (err.location, err.line, err.field) == ("ascii/DRUG17Q2.txt", 2, "prod_ai")
    assert "5 of 20" in str(err)


def test_truncated_last_row(tmp_path: Path) -> None:
    bad = make_zip(
        tmp_path / "bad.zip",
        {"demo": [demo_row(1001, 100, 1), "2001$200$1$F"], "drug": [], "reac": []},
    )
    err = _error(bad)
    assert (err.location, err.line, err.field) == ("ascii/DEMO17Q2.txt", 3, "event_dt")


def test_too_many_fields(tmp_path: Path) -> None:
    bad = make_zip(
        tmp_path / "bad.zip",
        {"demo": [demo_row(1001, 100, 1)], "drug": [], "reac": ["1001$100$Rash$$extra"]},
    )
    err = _error(bad)
    assert (err.location, err.line) == ("ascii/REAC17Q2.txt", 2)
    assert err.field is not None and "drug_rec_act" in err.field


def test_not_a_faers_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    err = _error(path)
    assert "DEMO" in str(err) and err.location == str(path)
