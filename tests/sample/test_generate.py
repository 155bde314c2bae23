"""The bundled sample: reproducible, in the real formats, and carrying what it claims.

Format checks read the real files in `shared_data` (FAERS 2017Q2 zip, MAUDE 2014 fixtures,
MAUDE enums, openFDA field dictionaries and examples, EUDAMED responses). Planted effects are
recounted here from the raw files, independently of the generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import statistics
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from cerflow.etl.eudamed import RISK_CLASSES
from cerflow.sample import SAMPLE_DIR, STATEMENT, generate, load_manifest

SEED = 20260101


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, SEED)
    return out


@pytest.fixture(scope="module")
def manifest(sample: Path) -> dict[str, Any]:
    return load_manifest(sample)


def _zip_tables(path: Path, sep: str = "$") -> dict[str, tuple[list[str], list[list[str]]]]:
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith("/"):
                continue
            text = zf.read(name).decode("latin-1")
            lines = text.splitlines()
            out[name] = (lines[0].split(sep), [line.split(sep) for line in lines[1:]])
    return out


def _faers_tables(sample: Path) -> dict[str, list[dict[str, str]]]:
    """All rows of all quarters, by table, as dicts (plus the quarter they came from)."""
    tables: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in sorted((sample / "faers").glob("*.zip")):
        for member, (header, rows) in _zip_tables(path).items():
            table = Path(member).name[:4].upper() if member.startswith("ascii/") else "DELETED"
            if table == "DELETED":  # one caseid a line, no header
                tables[table] += [{"caseid": r[0]} for r in [header, *rows]]
                continue
            for row in rows:
                tables[table].append({**dict(zip(header, row, strict=True)), "_zip": path.name})
    return tables


@pytest.fixture(scope="module")
def faers(sample: Path) -> dict[str, list[dict[str, str]]]:
    return _faers_tables(sample)


def _maude_table(sample: Path, prefix: str) -> tuple[list[str], list[dict[str, str]]]:
    header: list[str] = []
    rows: list[dict[str, str]] = []
    for path in sorted((sample / "maude").glob(f"{prefix}*.zip")):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                raw = zf.read(name)
                assert b"\r\n" in raw
                lines = raw.decode("latin-1").split("\r\n")
                assert lines[-1] == ""
                header = lines[0].split("|")
                rows += [dict(zip(header, ln.split("|"), strict=True)) for ln in lines[1:-1]]
    return header, rows


# -- reproducibility ----------------------------------------------------------------------


def _zip_content(path: Path) -> list[tuple[str, tuple[int, ...], bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, i.date_time, zf.read(i)) for i in zf.infolist()]


def test_same_seed_gives_byte_identical_files(sample: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, SEED)
    first = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    assert len(first) >= 25
    for rel in first:
        assert (sample / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_committed_sample_equals_regenerated(sample: Path, manifest: dict[str, Any]) -> None:
    committed = load_manifest(SAMPLE_DIR)
    assert [f["path"] for f in committed["files"]] == [f["path"] for f in manifest["files"]]
    for entry in manifest["files"]:
        ours, shipped = sample / entry["path"], SAMPLE_DIR / entry["path"]
        if ours.suffix == ".zip":
            # Compare what is inside: deflate bytes may differ between zlib builds.
            assert _zip_content(ours) == _zip_content(shipped), entry["path"]
        else:
            assert ours.read_bytes() == shipped.read_bytes(), entry["path"]

    def strip(m: dict[str, Any]) -> dict[str, Any]:
        files = [{k: v for k, v in f.items() if k not in ("sha256", "bytes")} for f in m["files"]]
        return {**m, "files": files}

    assert strip(committed) == strip(manifest)


def test_other_seed_gives_other_data(tmp_path: Path, manifest: dict[str, Any]) -> None:
    other = generate(tmp_path / "other", SEED + 1)
    assert other["seed"] == SEED + 1
    assert other["faers"]["cases"] != manifest["faers"]["cases"]


def test_zip_entries_have_fixed_dates(sample: Path) -> None:
    for path in sample.rglob("*.zip"):
        for name, date_time, _ in _zip_content(path):
            assert date_time == (2026, 1, 1, 0, 0, 0), (path, name)


def test_manifest_says_generated_and_hashes_match(sample: Path, manifest: dict[str, Any]) -> None:
    import hashlib

    assert manifest["generated"] is True
    assert manifest["seed"] == SEED
    assert manifest["statement"] == STATEMENT
    assert "SYNTHETIC DATA" in STATEMENT and "not real adverse event reports" in STATEMENT
    for entry in manifest["files"]:
        data = (sample / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    total = sum(f["bytes"] for f in manifest["files"])
    assert total < 5_000_000  # ships inside the wheel


# -- FAERS format -------------------------------------------------------------------------


def test_faers_headers_equal_real_2017q2(shared_data: Path, sample: Path) -> None:
    real = _zip_tables(shared_data / "faers_ascii/faers_ascii_2017q2.zip")
    real_headers = {Path(name).name[:4]: header for name, (header, _) in real.items()}
    assert set(real_headers) == {"DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"}
    zips = sorted((sample / "faers").glob("*.zip"))
    assert len(zips) == 14
    for path in zips:
        tag = path.stem[-6:].replace("20", "", 1)  # 2022Q1 -> 22Q1
        tables = _zip_tables(path)
        for table, header in real_headers.items():
            member = f"ascii/{table}{tag}.txt"
            assert member in tables, (path.name, member)
            ours, rows = tables[member]
            assert ours == header, (path.name, table)
            for row in rows:
                assert len(row) == len(header), (path.name, table, row)


def test_faers_dollar_quirks(sample: Path, faers: dict[str, list[dict[str, str]]]) -> None:
    # Empty last values leave a trailing '$', as DRUG rows without dose_freq do in the real file.
    assert any(r["dose_freq"] == "" for r in faers["DRUG"])
    assert any(r["dose_freq"] != "" for r in faers["DRUG"])
    with zipfile.ZipFile(sorted((sample / "faers").glob("*.zip"))[0]) as zf:
        drug = zf.read(next(n for n in zf.namelist() if "DRUG" in n)).decode("ascii")
    assert any(line.endswith("$") for line in drug.splitlines()[1:])
    assert not drug.splitlines()[0].endswith("$")
    # primaryid is caseid followed by caseversion, as in FDA's files.
    for row in faers["DEMO"]:
        assert row["primaryid"] == row["caseid"] + row["caseversion"]


def _yaml(shared_data: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((shared_data / f"openfda_fields/{name}.yaml").read_text())
    return data


def test_faers_codes_within_fda_code_lists(
    shared_data: Path, faers: dict[str, list[dict[str, str]]]
) -> None:
    drugevent = _yaml(shared_data, "drugevent")["properties"]
    patient = drugevent["patient"]["properties"]
    characterization = patient["drug"]["items"]["properties"]["drugcharacterization"]
    age_units = patient["patientonsetageunit"]["possible_values"]["value"]
    sexes = patient["patientsex"]["possible_values"]["value"]
    # FAERS ASCII codes -> the openFDA enumerations they become.
    role_map = {"PS": "1", "SS": "1", "C": "2", "I": "3"}
    age_map = {"DEC": "800", "YR": "801", "MON": "802", "WK": "803", "DY": "804", "HR": "805"}
    sex_map = {"M": "1", "F": "2", "UNK": "0"}
    roles = Counter(r["role_cod"] for r in faers["DRUG"])
    assert set(roles) == set(role_map)
    assert {role_map[r] for r in roles} <= set(characterization["possible_values"]["value"])
    ages = {r["age_cod"] for r in faers["DEMO"]} - {""}
    assert ages == set(age_map)
    assert {age_map[a] for a in ages} <= {str(k) for k in age_units}
    sex = {r["sex"] for r in faers["DEMO"]} - {""}
    assert {sex_map[s] for s in sex} <= {str(k) for k in sexes}
    assert {r["outc_cod"] for r in faers["OUTC"]} == {"DE", "LT", "HO", "DS", "CA", "RI", "OT"}
    assert {r["rept_cod"] for r in faers["DEMO"]} == {"EXP", "PER", "DIR"}
    assert {r["i_f_code"] for r in faers["DEMO"]} == {"I", "F"}
    rpsr = {r["rpsr_cod"] for r in faers["RPSR"]}
    assert rpsr <= {"FGN", "SDY", "LIT", "CSM", "HP", "UF", "CR", "DT", "OTH"}
    assert {r["occp_cod"] for r in faers["DEMO"]} <= {"MD", "PH", "OT", "LW", "CN", "HP"}
    assert {r["dur_cod"] for r in faers["THER"]} - {""} <= {
        "YR", "MON", "WK", "DAY", "HR", "MIN", "SEC"
    }  # fmt: skip
    assert {r["val_vbm"] for r in faers["DRUG"]} <= {"1", "2"}


def test_faers_codes_cover_the_real_sample(
    shared_data: Path, faers: dict[str, list[dict[str, str]]]
) -> None:
    """Every code the real 2017Q2 sample uses is one the generator knows."""
    real = _zip_tables(shared_data / "faers_ascii/faers_ascii_2017q2.zip")
    by_table = {Path(n).name[:4]: (h, rows) for n, (h, rows) in real.items()}

    def values(table: str, column: str) -> set[str]:
        header, rows = by_table[table]
        return {row[header.index(column)] for row in rows} - {""}

    assert values("DRUG", "role_cod") <= {r["role_cod"] for r in faers["DRUG"]}
    assert values("OUTC", "outc_cod") <= {r["outc_cod"] for r in faers["OUTC"]}
    assert values("DEMO", "rept_cod") <= {r["rept_cod"] for r in faers["DEMO"]}
    assert values("DEMO", "occp_cod") <= {r["occp_cod"] for r in faers["DEMO"]}
    assert values("DEMO", "sex") <= {r["sex"] for r in faers["DEMO"]}


def test_faers_quirks_present(faers: dict[str, list[dict[str, str]]]) -> None:
    versions: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in faers["DEMO"]:
        versions[row["caseid"]].add((row["caseversion"], row["_zip"]))
    cross_quarter = [
        c
        for c, v in versions.items()
        if len({z for _, z in v}) > 1 and {"1", "2"} <= {x for x, _ in v}
    ]
    assert len(cross_quarter) > 100
    same_quarter = [c for c, v in versions.items() if len(v) > 1 and len({z for _, z in v}) == 1]
    assert same_quarter
    assert any(row["caseversion"] in ("2", "3") and row["i_f_code"] == "F" for row in faers["DEMO"])
    lengths = Counter(len(row["event_dt"]) for row in faers["DEMO"])
    assert set(lengths) == {0, 4, 6, 8}
    assert sum(1 for row in faers["DEMO"] if row["age"] == "") > 1000
    assert faers["DELETED"]


# -- FAERS content ------------------------------------------------------------------------


def _final_cases(faers: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """Latest version per caseid, minus deleted cases: FDA's dedup, done by hand."""
    deleted = {r["caseid"] for r in faers["DELETED"]}
    latest: dict[str, str] = {}
    for row in faers["DEMO"]:
        cid, pid = row["caseid"], row["primaryid"]
        if cid in deleted:
            continue
        if cid not in latest or int(row["caseversion"]) > int(latest[cid][len(cid) :]):
            latest[cid] = pid
    keep = set(latest.values())
    cases: dict[str, dict[str, Any]] = {}
    for row in faers["DEMO"]:
        if row["primaryid"] in keep:
            cases[row["primaryid"]] = {"demo": row, "drugs": [], "pts": set(), "outc": set()}
    for row in faers["DRUG"]:
        if row["primaryid"] in cases:
            cases[row["primaryid"]]["drugs"].append(row)
    for row in faers["REAC"]:
        if row["primaryid"] in cases:
            cases[row["primaryid"]]["pts"].add(row["pt"])
    for row in faers["OUTC"]:
        if row["primaryid"] in cases:
            cases[row["primaryid"]]["outc"].add(row["outc_cod"])
    return cases


@pytest.fixture(scope="module")
def final_cases(faers: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    return _final_cases(faers)


def _suspect(case: dict[str, Any], prod_ai: str) -> bool:
    return any(
        d["prod_ai"] == prod_ai and d["role_cod"] in ("PS", "SS", "I") for d in case["drugs"]
    )


def test_faers_volume_and_background(
    final_cases: dict[str, dict[str, Any]], manifest: dict[str, Any]
) -> None:
    assert len(final_cases) == manifest["faers"]["cases"]
    assert 15_000 <= len(final_cases) <= 30_000
    assert len({d["prod_ai"] for c in final_cases.values() for d in c["drugs"]}) >= 42
    assert len({pt for c in final_cases.values() for pt in c["pts"]}) >= 200


def test_faers_focus_drugs_have_36_months(final_cases: dict[str, dict[str, Any]]) -> None:
    for prod_ai in ("ATORVASTATIN CALCIUM", "METFORMIN HYDROCHLORIDE"):
        months = {
            c["demo"]["init_fda_dt"][:6] for c in final_cases.values() if _suspect(c, prod_ai)
        }
        assert len(months) >= 36, prod_ai


def _prr(cases: list[dict[str, Any]], prod_ai: str, pt: str) -> tuple[int, float, float]:
    a = sum(1 for c in cases if _suspect(c, prod_ai) and pt in c["pts"])
    drug = sum(1 for c in cases if _suspect(c, prod_ai))
    event = sum(1 for c in cases if pt in c["pts"])
    n = len(cases)
    b, c_, d = drug - a, event - a, n - drug - event + a
    prr = (a / (a + b)) / (c_ / (c_ + d))
    chi2 = n * (a * d - b * c_) ** 2 / ((a + b) * (c_ + d) * (a + c_) * (b + d))
    return a, prr, chi2


def test_faers_planted_signal(
    final_cases: dict[str, dict[str, Any]], manifest: dict[str, Any]
) -> None:
    cases = list(final_cases.values())
    a, prr, _ = _prr(cases, "ATORVASTATIN CALCIUM", "Rhabdomyolysis")
    planted = manifest["faers"]["planted"]["signal"]
    assert a == planted["a"]
    assert prr == pytest.approx(planted["prr"], rel=1e-3)
    assert a >= 100 and prr > 10


def test_faers_null_profile(final_cases: dict[str, dict[str, Any]]) -> None:
    cases = list(final_cases.values())
    met = [c for c in cases if _suspect(c, "METFORMIN HYDROCHLORIDE")]
    pts = Counter(pt for c in met for pt in c["pts"])
    flagged = []
    for pt, n in pts.items():
        if n >= 3:
            a, prr, chi2 = _prr(cases, "METFORMIN HYDROCHLORIDE", pt)
            if prr >= 2 and chi2 >= 4:
                flagged.append((pt, a, prr))
    assert flagged == []
    assert len(pts) > 50


def test_faers_trend_and_spike(
    final_cases: dict[str, dict[str, Any]], manifest: dict[str, Any]
) -> None:
    monthly = Counter(
        c["demo"]["init_fda_dt"][:6]
        for c in final_cases.values()
        if _suspect(c, "ATORVASTATIN CALCIUM")
    )
    series = [monthly[m] for m in sorted(monthly)]
    assert len(series) == 42
    assert statistics.mean(series[-12:]) > 2 * statistics.mean(series[:12])
    spike = manifest["faers"]["planted"]["spike"]["month"].replace("-", "")
    months = sorted(monthly)
    at = months.index(spike)
    neighbours = [monthly[m] for m in months[at - 3 : at] + months[at + 1 : at + 4]]
    assert monthly[spike] > 2 * max(neighbours)
    assert (
        monthly[spike]
        == manifest["faers"]["planted"]["monthly_reports_by_focus_drug"]["atorvastatin"][
            manifest["faers"]["planted"]["spike"]["month"]
        ]
    )
    met = Counter(
        c["demo"]["init_fda_dt"][:6]
        for c in final_cases.values()
        if _suspect(c, "METFORMIN HYDROCHLORIDE")
    )
    met_series = [met[m] for m in sorted(met)]
    assert abs(statistics.mean(met_series[-12:]) - statistics.mean(met_series[:12])) < 8


# -- MAUDE --------------------------------------------------------------------------------


def _real_header(shared_data: Path, name: str) -> list[str]:
    path = shared_data / f"openfda_pipeline_tests/maude_2014/{name}.txt"
    return path.read_text(encoding="latin-1").splitlines()[0].split("|")


def test_maude_headers_are_legacy_upper_cased_plus_extras(shared_data: Path, sample: Path) -> None:
    expected = {
        "mdrfoi": [h.upper() for h in _real_header(shared_data, "mdrfoi")]
        + ["DATE_ADDED", "DATE_CHANGED"],
        "device": [h.upper() for h in _real_header(shared_data, "foidev")]
        + ["UDI-DI", "UDI-PUBLIC"],
        "foitext": [
            "FOI_TEXT" if h == "text" else h.upper() for h in _real_header(shared_data, "foitext")
        ],
        "patient": [h.upper() for h in _real_header(shared_data, "patient")]
        + ["PATIENT_AGE", "PATIENT_SEX", "PATIENT_WEIGHT", "PATIENT_ETHNICITY", "PATIENT_RACE"],
    }
    assert len(expected["mdrfoi"]) == 77
    for prefix, header in expected.items():
        ours, rows = _maude_table(sample, prefix)
        assert ours == header, prefix
        assert rows
    header, rows = _maude_table(sample, "foidevproblem")
    assert header == ["MDR_REPORT_KEY", "DEVICE_PROBLEM_CODE"]


def _enums(shared_data: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    with (shared_data / "openfda_pipeline_tests/maude_data/enums.csv").open() as fh:
        for row in csv.DictReader(fh):
            out[row["key_name"]].add(row["code"])
    return out


def test_maude_codes_within_enums(shared_data: Path, sample: Path) -> None:
    enums = _enums(shared_data)
    _, master = _maude_table(sample, "mdrfoi")
    _, devices = _maude_table(sample, "device")
    _, texts = _maude_table(sample, "foitext")
    _, patients = _maude_table(sample, "patient")
    checks = {
        ("event_type", "EVENT_TYPE"): master,
        ("report_source_code", "REPORT_SOURCE_CODE"): master,
        ("reporter_occupation_code", "REPORTER_OCCUPATION_CODE"): master,
        ("initial_report_to_fda", "INITIAL_REPORT_TO_FDA"): master,
        ("type_of_report", "TYPE_OF_REPORT"): master,
        ("source_type", "SOURCE_TYPE"): master,
        ("remedial_action", "REMEDIAL_ACTION"): master,
        ("event_location", "EVENT_LOCATION"): master,
        ("device_operator", "DEVICE_OPERATOR"): devices,
        ("device_availability", "DEVICE_AVAILABILITY"): devices,
        ("device_evaluated_by_manufactur", "DEVICE_EVALUATED_BY_MANUFACTURER"): devices,
        ("text_type_code", "TEXT_TYPE_CODE"): texts,
    }
    for (key, column), rows in checks.items():
        used = {r[column] for r in rows} - {""}
        assert used, column
        assert used <= enums[key], (column, used - enums[key])
    assert {r["EVENT_TYPE"] for r in master} == {"D", "IN", "M", "O"}
    letters = {
        part.split(". ")[1]
        for r in patients
        for part in r["SEQUENCE_NUMBER_OUTCOME"].split("; ")
        if part
    }
    assert letters <= enums["sequence_number_outcome"]
    # The openFDA event_type dictionary has a meaning for each code used.
    yaml_types = _yaml(shared_data, "deviceevent")["properties"]["event_type"]["possible_values"]
    names = {"D": "Death", "IN": "Injury (IN)", "M": "Malfunction", "O": "Other"}
    assert {names[c] for c in {r["EVENT_TYPE"] for r in master}} <= set(yaml_types["value"])


def test_maude_dates_and_problem_codes(sample: Path) -> None:
    _, master = _maude_table(sample, "mdrfoi")
    for row in master[:500]:
        dt.datetime.strptime(row["DATE_RECEIVED"], "%m/%d/%Y")
        dt.datetime.strptime(row["DATE_CHANGED"], "%m/%d/%Y")
    codes_text = (sample / "maude/deviceproblemcodes.csv").read_bytes().decode("latin-1")
    codes = {row[0]: row[1] for row in list(csv.reader(io.StringIO(codes_text)))[1:]}
    assert all(len(code) == 4 and code.isdigit() for code in codes)
    _, problems = _maude_table(sample, "foidevproblem")
    keys = {r["MDR_REPORT_KEY"] for r in master}
    assert {p["DEVICE_PROBLEM_CODE"] for p in problems} <= set(codes)
    assert {p["MDR_REPORT_KEY"] for p in problems} == keys
    # latin-1 text survives (manufacturer addresses outside the US).
    _, devices = _maude_table(sample, "device")
    assert any(any(ord(ch) > 127 for ch in r["MANUFACTURER_D_CITY"]) for r in devices)


def test_maude_focus_codes_months_signal_and_trend(sample: Path, manifest: dict[str, Any]) -> None:
    _, master = _maude_table(sample, "mdrfoi")
    _, devices = _maude_table(sample, "device")
    _, problems = _maude_table(sample, "foidevproblem")
    codes_text = (sample / "maude/deviceproblemcodes.csv").read_bytes().decode("latin-1")
    names = {row[0]: row[1] for row in list(csv.reader(io.StringIO(codes_text)))[1:]}
    received = {r["MDR_REPORT_KEY"]: r["DATE_RECEIVED"] for r in master}
    code_of = {r["MDR_REPORT_KEY"]: r["DEVICE_REPORT_PRODUCT_CODE"] for r in devices}
    assert len(master) == manifest["maude"]["reports"]
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    for key, date in received.items():
        monthly[code_of[key]][date[6:] + date[:2]] += 1
    for code in ("DQA", "LZG"):
        assert len(monthly[code]) >= 36, code
    assert len(monthly) >= 10
    lzg = [monthly["LZG"][m] for m in sorted(monthly["LZG"])]
    assert statistics.mean(lzg[-12:]) > 1.8 * statistics.mean(lzg[:12])
    term = manifest["maude"]["planted"]["signal"]["device_problem"]
    with_term = {p["MDR_REPORT_KEY"] for p in problems if names[p["DEVICE_PROBLEM_CODE"]] == term}
    a = sum(1 for k in with_term if code_of[k] == "LZG")
    n_lzg = sum(1 for k in code_of if code_of[k] == "LZG")
    prr = (a / n_lzg) / ((len(with_term) - a) / (len(code_of) - n_lzg))
    assert a == manifest["maude"]["planted"]["signal"]["a"]
    assert prr > 5
    types = Counter(r["EVENT_TYPE"] for r in master)
    assert types["D"] > 50 and types["IN"] > 500 and types["M"] > 2000


# -- openFDA recalls ----------------------------------------------------------------------


def _examples(shared_data: Path, endpoint: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (shared_data / f"openfda_api_examples/{endpoint}/_examples.json").read_text()
    )
    return data


@pytest.mark.parametrize(
    ("name", "endpoint", "yaml_name"),
    [
        ("device_recall", "device/recall", "devicerecall"),
        ("device_enforcement", "device/enforcement", "deviceenforcement"),
        ("drug_enforcement", "drug/enforcement", "drugenforcement"),
    ],
)
def test_openfda_responses_match_examples_and_fields(
    shared_data: Path, sample: Path, name: str, endpoint: str, yaml_name: str
) -> None:
    ours = json.loads((sample / f"openfda/{name}.json").read_text())
    fields = _yaml(shared_data, yaml_name)["properties"]
    example = _examples(shared_data, endpoint)
    real_result = example["anatomy"]["results"][0] or example["result"]
    real_meta = example["anatomy"]["meta"]
    assert set(ours) == {"meta", "results"}
    assert set(ours["meta"]) >= set(real_meta) - {"terms"}
    assert ours["meta"]["results"]["total"] == len(ours["results"]) >= 4
    assert "SYNTHETIC" in ours["meta"]["disclaimer"]
    optional = {"event_date_terminated", "termination_date"}
    for record in ours["results"]:
        assert set(record) - {"meta"} <= set(fields), set(record) - set(fields)
        assert set(real_result) - optional <= set(record)
        assert set(record["openfda"]) <= set(fields["openfda"]["properties"])
        for key, spec in fields.items():
            if not isinstance(spec, dict):
                continue
            if key in record and spec.get("format") == "date":
                text = record[key]
                fmt = "%Y-%m-%d" if "-" in text else "%Y%m%d"
                dt.datetime.strptime(text, fmt)
            values = (spec.get("possible_values") or {}).get("value")
            if key in record and isinstance(values, dict) and key != "status":
                assert record[key] in values, (key, record[key])
        if "status" in record:
            allowed = set(fields["status"]["possible_values"]["value"]) | {"Ongoing"}
            assert record["status"] in allowed
    if name != "device_recall":
        assert {r["classification"] for r in ours["results"]} >= {"Class I", "Class II"}
        years = {r["recall_initiation_date"][:4] for r in ours["results"]}
        assert len(years) >= 3


def test_recalls_cover_focus_products(sample: Path) -> None:
    device = json.loads((sample / "openfda/device_enforcement.json").read_text())["results"]
    drug = json.loads((sample / "openfda/drug_enforcement.json").read_text())["results"]
    assert {r["product_code"] for r in device} == {"DQA", "LZG"}
    assert {r["openfda"]["generic_name"][0] for r in drug} == {
        "ATORVASTATIN CALCIUM",
        "METFORMIN HYDROCHLORIDE",
    }
    classes = {r["classification"] for r in device + drug}
    assert classes == {"Class I", "Class II", "Class III"}


# -- EUDAMED ------------------------------------------------------------------------------


def _gtin_ok(code: str) -> bool:
    body, check = code[:-1], int(code[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def test_eudamed_pages_match_real_shape(shared_data: Path, sample: Path) -> None:
    real = json.loads(
        (shared_data / "eudamed/Delapro_README_05_devices_udiDiData_search_by_srn.json").read_text()
    )
    real_item_keys = set(real["content"][0])
    pages = sorted((sample / "eudamed").glob("*.json"))
    assert [p.stem[-3:] for p in pages] == ["DQA", "LZG"]
    for path in pages:
        page = json.loads(path.read_text())
        assert set(page) == set(real)
        assert page["totalElements"] == len(page["content"]) >= 2
        for item in page["content"]:
            assert set(item) == real_item_keys
            assert item["riskClass"]["code"].removeprefix("refdata.risk-class.") in RISK_CLASSES
            assert "SYNTHETIC" in item["tradeName"]
            assert len(item["primaryDi"]) == 14 and _gtin_ok(item["primaryDi"])
            assert item["manufacturerSrn"].startswith("XS-MF-")
