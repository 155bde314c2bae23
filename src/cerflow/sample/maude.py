"""Synthetic MAUDE bulk files in FDA's current upper-case layout.

Columns: the legacy header names of the real `maude_2014` files (openFDA pipeline fixtures)
upper-cased, plus the extras the current files carry (`DATE_ADDED`, `DATE_CHANGED` in the
master file; `UDI-DI`, `UDI-PUBLIC` in the device file; the text column is `FOI_TEXT`).
Pipe-delimited, CRLF line ends and `MM/DD/YYYY` dates as in the real files, latin-1-safe
text (one manufacturer name carries a latin-1 character on purpose). Device problems come
as FDA ships them: `foidevproblem.txt` (`MDR_REPORT_KEY|DEVICE_PROBLEM_CODE`) and the code
table `deviceproblemcodes.csv`. Coded values come from `maude_data/enums.csv`.

Planted (numbers in `manifest.json`): an upward trend in LZG (insulin pump) reports, a
device-problem signal LZG x "Insufficient Flow or Under Infusion", and a flat, signal-free
profile for DQA (pulse oximeter). Every narrative says it is synthetic.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerflow.sample._util import (
    days_in_month,
    month_range,
    poisson,
    section_rng,
    write_zip,
)
from cerflow.sample.vocabulary import (
    BACKGROUND_DEVICES,
    DEVICE_SIGNAL_PROBLEM,
    FOCUS_DEVICES,
    GENERIC_PROBLEMS,
    DeviceCode,
    all_problem_terms,
)

_LEGACY_MDRFOI = (
    "mdr_report_key|event_key|report_number|report_source_code|manufacturer_link_flag|"
    "number_devices_in_event|number_patients_in_event|date_received|adverse_event_flag|"
    "product_problem_flag|date_report|date_of_event|reprocessed_and_reused_flag|"
    "reporter_occupation_code|health_professional|initial_report_to_fda|distributor_name|"
    "distributor_address_1|distributor_address_2|distributor_city|distributor_state|"
    "distributor_zip_code|distributor_zip_code_ext|date_facility_aware|type_of_report|"
    "report_date|report_to_fda|date_report_to_fda|event_location|report_to_manufacturer|"
    "date_report_to_manufacturer|manufacturer_name|manufacturer_address_1|"
    "manufacturer_address_2|manufacturer_city|manufacturer_state|manufacturer_zip_code|"
    "manufacturer_zip_code_ext|manufacturer_country|manufacturer_postal_code|"
    "manufacturer_contact_t_name|manufacturer_contact_f_name|manufacturer_contact_l_name|"
    "manufacturer_contact_address_1|manufacturer_contact_address_2|manufacturer_contact_city|"
    "manufacturer_contact_state|manufacturer_contact_zip_code|manufacturer_contact_zip_ext|"
    "manufacturer_contact_country|manufacturer_contact_postal_code|"
    "manufacturer_contact_area_code|manufacturer_contact_exchange|"
    "manufacturer_contact_phone_number|manufacturer_contact_extension|"
    "manufacturer_contact_pcountry|manufacturer_contact_pcity|manufacturer_contact_plocal|"
    "manufacturer_g1_name|manufacturer_g1_street_1|manufacturer_g1_street_2|"
    "manufacturer_g1_city|manufacturer_g1_state|manufacturer_g1_zip_code|"
    "manufacturer_g1_zip_code_ext|manufacturer_g1_country|manufacturer_g1_postal_code|"
    "source_type|date_manufacturer_received|device_date_of_manufacture|single_use_flag|"
    "remedial_action|previous_use_code|removal_correction_number|event_type"
)
_LEGACY_FOIDEV = (
    "mdr_report_key|device_event_key|implant_flag|date_removed_flag|device_sequence_number|"
    "date_received|brand_name|generic_name|manufacturer_d_name|manufacturer_d_address_1|"
    "manufacturer_d_address_2|manufacturer_d_city|manufacturer_d_state|"
    "manufacturer_d_zip_code|manufacturer_d_zip_code_ext|manufacturer_d_country|"
    "manufacturer_d_postal_code|expiration_date_of_device|model_number|catalog_number|"
    "lot_number|other_id_number|device_operator|device_availability|"
    "date_returned_to_manufacturer|device_report_product_code|device_age_text|"
    "device_evaluated_by_manufacturer|baseline_brand_name|baseline_generic_name|"
    "baseline_model_number|baseline_catalog_number|baseline_other_id_number|"
    "baseline_device_family|baseline_shelf_life_contained|baseline_shelf_life_in_months|"
    "baseline_pma_flag|baseline_pma_number|baseline_510_k_flag|baseline_510_k_number|"
    "baseline_preamendment_flag|baseline_transitional_flag|baseline_510_k_exempt_flag|"
    "baseline_date_first_marketed|baseline_date_ceased_marketing"
)
_LEGACY_FOITEXT = (
    "mdr_report_key|mdr_text_key|text_type_code|patient_sequence_number|date_report|text"
)
_LEGACY_PATIENT = (
    "mdr_report_key|patient_sequence_number|date_received|sequence_number_treatment|"
    "sequence_number_outcome"
)

# Legacy header names per file (lower-case, as in the real maude_2014 fixtures).
LEGACY_HEADERS: dict[str, tuple[str, ...]] = {
    "mdrfoi": tuple(_LEGACY_MDRFOI.split("|")),
    "foidev": tuple(_LEGACY_FOIDEV.split("|")),
    "foitext": tuple(_LEGACY_FOITEXT.split("|")),
    "patient": tuple(_LEGACY_PATIENT.split("|")),
}
# What the current files add (appended at the end) or rename.
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "mdrfoi": ("DATE_ADDED", "DATE_CHANGED"),
    "foidev": ("UDI-DI", "UDI-PUBLIC"),
    "foitext": (),
    "patient": (
        "PATIENT_AGE",
        "PATIENT_SEX",
        "PATIENT_WEIGHT",
        "PATIENT_ETHNICITY",
        "PATIENT_RACE",
    ),
}
RENAMED_COLUMNS = {"foitext": {"TEXT": "FOI_TEXT"}}


def current_header(kind: str) -> tuple[str, ...]:
    renames = RENAMED_COLUMNS.get(kind, {})
    upper = tuple(renames.get(name.upper(), name.upper()) for name in LEGACY_HEADERS[kind])
    return upper + EXTRA_COLUMNS[kind]


PROBLEM_HEADER = ("MDR_REPORT_KEY", "DEVICE_PROBLEM_CODE")
PROBLEM_CODES_HEADER = ("DEVICE_PROBLEM_CODE", "DEVICE_PROBLEM_DESCRIPTION")

START = dt.date(2022, 1, 1)
MONTHS = 42
LZG_TREND = (24.0, 68.0)
DQA_PER_MONTH = 20.0
BACKGROUND_PER_CODE = 8.0
SIGNAL_RATE = 0.38  # P(signal problem | LZG report)
BACKGROUND_SIGNAL_RATE = 0.12  # for FRN (general infusion pumps) only

EVENT_TYPES = ("D", "IN", "M", "O")
SOURCE_CODES = ("M", "P", "U", "D")
OCCUPATIONS = ("000", "001", "002", "0HP", "0LP", "109", "114", "305", "306", "999", "UNK")
OPERATORS = ("0HP", "0LP", "001", "002", "305", "UNK")
LOCATIONS = ("", "000", "001", "002", "003", "004", "502", "508")
OUTCOME_LETTERS = ("L", "H", "S", "C", "R", "O", "U", "I", "A", "D")
SOURCE_TYPES = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "99")
REMEDIAL = ("RC", "RP", "RL", "RB", "OT", "NO", "IN", "PM", "MA")
# Per-manufacturer registration numbers used in report numbers (synthetic).
REGISTRATION = {
    "SYNTHETIC MEDICAL DEVICES INC.": "9999101",
    "SYNTHETIC INFUSION SYSTEMS LLC": "9999102",
    "SYNTHETIC DIAGNOSTICS GMBH": "9999103",
    "SYNTHETIC VASCULAR LTD.": "9999104",
    "SYNTHETIC RHYTHM CORP.": "9999105",
    "SYNTHETIC ORTHOPAEDICS S.A.": "9999106",
    "SYNTHETIC DISPOSABLES INC.": "9999107",
    "SYNTHETIC RESPIRATORY AG": "9999108",
}
ADDRESSES = {
    "SYNTHETIC DIAGNOSTICS GMBH": ("MUSTERSTRASSE 1", "MÜNCHEN", "", "GM", "80331"),
    "SYNTHETIC ORTHOPAEDICS S.A.": ("RUE DE L'EXEMPLE 2", "GENÈVE", "", "SZ", "1201"),
    "SYNTHETIC RESPIRATORY AG": ("BEISPIELWEG 3", "ZÜRICH", "", "SZ", "8001"),
}
DEFAULT_ADDRESS = ("100 EXAMPLE WAY", "SPRINGFIELD", "MA", "US", "")

NARRATIVES = {
    "Insufficient Flow or Under Infusion": "THE PUMP DELIVERED LESS INSULIN THAN PROGRAMMED",
    "Excess Flow or Over-Infusion": "THE PUMP DELIVERED MORE INSULIN THAN PROGRAMMED",
    "Occlusion Within Device": "AN OCCLUSION ALARM OCCURRED DURING DELIVERY",
    "Device Alarm System": "THE DEVICE ALARM DID NOT SOUND AS EXPECTED",
    "Failure to Power Up": "THE DEVICE WOULD NOT POWER ON",
    "Incorrect, Inadequate or Imprecise Result or Readings": (
        "THE DEVICE DISPLAYED A READING THAT DID NOT MATCH THE PATIENT'S CONDITION"
    ),
    "Unable to Obtain Readings": "THE DEVICE COULD NOT OBTAIN A READING",
    "Battery Problem": "THE BATTERY DEPLETED EARLIER THAN EXPECTED",
}


@dataclass(slots=True)
class _Report:
    key: int
    device: DeviceCode
    received: dt.date
    event_type: str
    problems: list[str]
    source_code: str
    outcomes: list[str] = field(default_factory=list)


def _mdy(day: dt.date | None) -> str:
    return day.strftime("%m/%d/%Y") if day else ""


def _problem_codes() -> dict[str, str]:
    """Four-digit codes in FDA's format; the numbers are illustrative, not FDA's."""
    return {term: str(1001 + 23 * i) for i, term in enumerate(all_problem_terms())}


def _build(rng: random.Random) -> list[_Report]:
    reports: list[_Report] = []
    key = 14_200_000
    months = month_range(START, MONTHS)
    for index, month in enumerate(months):
        lzg = LZG_TREND[0] + (LZG_TREND[1] - LZG_TREND[0]) * index / (MONTHS - 1)
        plan: list[tuple[DeviceCode, int]] = [
            (FOCUS_DEVICES[0], poisson(rng, DQA_PER_MONTH)),
            (FOCUS_DEVICES[1], poisson(rng, lzg)),
        ]
        plan += [(dev, poisson(rng, BACKGROUND_PER_CODE)) for dev in BACKGROUND_DEVICES]
        month_reports = []
        for device, count in plan:
            for _ in range(count):
                day = month + dt.timedelta(days=rng.randrange(days_in_month(month)))
                r = rng.random()
                death = 0.03 if device.device_class == "3" or device.code == "LZG" else 0.015
                event_type = "D" if r < death else "IN" if r < 0.3 else "M" if r < 0.985 else "O"
                problems = [rng.choice(device.problems)]
                if rng.random() < 0.35:
                    problems.append(rng.choice(GENERIC_PROBLEMS))
                signal = SIGNAL_RATE if device.code == "LZG" else 0.0
                if device.code == "FRN":
                    signal = BACKGROUND_SIGNAL_RATE
                if rng.random() < signal:
                    problems[0] = DEVICE_SIGNAL_PROBLEM
                elif device.code == "LZG" and problems[0] == DEVICE_SIGNAL_PROBLEM:
                    problems[0] = device.problems[1]
                problems = list(dict.fromkeys(problems))
                r = rng.random()
                source = "M" if r < 0.8 else "P" if r < 0.92 else "U" if r < 0.98 else "D"
                outcomes: list[str] = []
                if event_type == "D":
                    outcomes = ["D"]
                elif event_type == "IN":
                    outcomes = [rng.choice(("H", "R", "O", "L", "S"))]
                    if rng.random() < 0.2:
                        outcomes.append("R" if outcomes[0] != "R" else "H")
                elif rng.random() < 0.02:
                    outcomes = [rng.choice(("C", "U", "I", "A"))]
                month_reports.append(
                    _Report(0, device, day, event_type, problems, source, outcomes)
                )
        rng.shuffle(month_reports)
        for rep in sorted(month_reports, key=lambda r: r.received):
            key += rng.randint(1, 40)
            rep.key = key
            reports.append(rep)
    return reports


def _line(values: list[str]) -> str:
    return "|".join(v.replace("|", "/").replace("\r", " ").replace("\n", " ") for v in values)


def _file_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    lines = [_line(list(header))]
    for row in rows:
        if len(row) != len(header):  # pragma: no cover - generator bug guard
            raise AssertionError(f"{len(row)} values for {len(header)} columns")
        lines.append(_line(row))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _rows(
    rep: _Report, rng: random.Random, codes: dict[str, str], seq: Counter[str]
) -> dict[str, list[list[str]]]:
    dev = rep.device
    year = rep.received.year
    reg = REGISTRATION[dev.manufacturer]
    if rep.source_code == "M":
        seq[f"{reg}-{year}"] += 1
        number = f"{reg}-{year}-{seq[f'{reg}-{year}']:05d}"
    elif rep.source_code == "P":
        number = f"MW5{rep.key % 1_000_000:06d}"
    else:
        seq[f"F{year}"] += 1
        number = f"9999900-{year}-{seq[f'F{year}']:05d}"
    event_day = rep.received - dt.timedelta(days=rng.randint(3, 60))
    date_report = rep.received - dt.timedelta(days=rng.randint(0, 3))
    street, city, state, country, postal = ADDRESSES.get(dev.manufacturer, DEFAULT_ADDRESS)
    values = {
        "MDR_REPORT_KEY": str(rep.key),
        "EVENT_KEY": "",
        "REPORT_NUMBER": number,
        "REPORT_SOURCE_CODE": rep.source_code,
        "MANUFACTURER_LINK_FLAG": "Y" if rep.source_code == "M" else "N",
        "NUMBER_DEVICES_IN_EVENT": "1",
        "NUMBER_PATIENTS_IN_EVENT": "1",
        "DATE_RECEIVED": _mdy(rep.received),
        "ADVERSE_EVENT_FLAG": "Y" if rep.event_type in ("D", "IN") else "N",
        "PRODUCT_PROBLEM_FLAG": "Y" if rep.event_type == "M" else rng.choice(("Y", "N")),
        "DATE_REPORT": _mdy(date_report),
        "DATE_OF_EVENT": _mdy(event_day) if rng.random() < 0.8 else "",
        "REPROCESSED_AND_REUSED_FLAG": "N",
        "REPORTER_OCCUPATION_CODE": rng.choice(OCCUPATIONS),
        "HEALTH_PROFESSIONAL": rng.choice(("Y", "N", "")),
        "INITIAL_REPORT_TO_FDA": rng.choice(("Y", "N", "U", "*")),
        "DATE_FACILITY_AWARE": _mdy(event_day) if rep.source_code == "U" else "",
        "TYPE_OF_REPORT": "I" if rng.random() < 0.9 else "F",
        "REPORT_DATE": _mdy(date_report) if rep.source_code == "U" else "",
        "REPORT_TO_FDA": "Y" if rep.source_code == "U" else "",
        "DATE_REPORT_TO_FDA": _mdy(date_report) if rep.source_code == "U" else "",
        "EVENT_LOCATION": rng.choice(LOCATIONS),
        "REPORT_TO_MANUFACTURER": "Y" if rep.source_code == "U" else "",
        "MANUFACTURER_NAME": dev.manufacturer if rep.source_code == "M" else "",
        "MANUFACTURER_ADDRESS_1": street if rep.source_code == "M" else "",
        "MANUFACTURER_CITY": city if rep.source_code == "M" else "",
        "MANUFACTURER_STATE": state if rep.source_code == "M" else "",
        "MANUFACTURER_COUNTRY": country if rep.source_code == "M" else "",
        "MANUFACTURER_POSTAL_CODE": postal if rep.source_code == "M" else "",
        "MANUFACTURER_G1_NAME": dev.manufacturer if rep.source_code == "M" else "",
        "MANUFACTURER_G1_CITY": city if rep.source_code == "M" else "",
        "MANUFACTURER_G1_COUNTRY": country if rep.source_code == "M" else "",
        "SOURCE_TYPE": rng.choice(SOURCE_TYPES) if rep.source_code == "M" else "",
        "DATE_MANUFACTURER_RECEIVED": _mdy(date_report) if rep.source_code == "M" else "",
        "DEVICE_DATE_OF_MANUFACTURE": _mdy(event_day - dt.timedelta(days=rng.randint(90, 900))),
        "SINGLE_USE_FLAG": "Y" if dev.code in ("FMF", "FPA", "FOZ", "NIQ", "QBJ") else "N",
        "REMEDIAL_ACTION": rng.choice(REMEDIAL) if rng.random() < 0.05 else "",
        "PREVIOUS_USE_CODE": rng.choice(("I", "R", "U", "*")),
        "REMOVAL_CORRECTION_NUMBER": "",
        "EVENT_TYPE": rep.event_type,
        "DATE_ADDED": _mdy(rep.received + dt.timedelta(days=rng.randint(1, 20))),
        "DATE_CHANGED": _mdy(rep.received + dt.timedelta(days=rng.randint(21, 60))),
    }
    mdrfoi = [values.get(name, "") for name in current_header("mdrfoi")]

    udi_di = _udi_di(dev)
    dev_values = {
        "MDR_REPORT_KEY": str(rep.key),
        "DEVICE_EVENT_KEY": "",
        "IMPLANT_FLAG": "Y" if dev.code in ("NIQ", "LWS", "JWH") else "N",
        "DATE_REMOVED_FLAG": "",
        "DEVICE_SEQUENCE_NUMBER": "1",
        "DATE_RECEIVED": _mdy(rep.received),
        "BRAND_NAME": dev.brand,
        "GENERIC_NAME": dev.generic_name,
        "MANUFACTURER_D_NAME": dev.manufacturer,
        "MANUFACTURER_D_ADDRESS_1": street,
        "MANUFACTURER_D_CITY": city,
        "MANUFACTURER_D_STATE": state,
        "MANUFACTURER_D_COUNTRY": country,
        "MANUFACTURER_D_POSTAL_CODE": postal,
        "MODEL_NUMBER": f"{dev.code}-{100 + rng.randrange(3) * 100}",
        "CATALOG_NUMBER": f"CAT-{dev.code}-{rng.randint(10, 99)}",
        "LOT_NUMBER": f"L{rep.received:%y}{rng.randint(1000, 9999)}"
        if rng.random() < 0.6
        else "UNK",
        "DEVICE_OPERATOR": rng.choice(OPERATORS),
        "DEVICE_AVAILABILITY": rng.choice(("Y", "N", "R", "*")),
        "DEVICE_REPORT_PRODUCT_CODE": dev.code,
        "DEVICE_AGE_TEXT": rng.choice(("", "", "DA", "1 YR", "6 MO")),
        "DEVICE_EVALUATED_BY_MANUFACTURER": rng.choice(("Y", "N", "R", "*")),
        "UDI-DI": udi_di,
        "UDI-PUBLIC": f"(01){udi_di}(17)270101(10)LOT{rep.key % 1000:03d}",
    }
    foidev = [dev_values.get(name, "") for name in current_header("foidev")]

    text_rows = []
    base_key = rep.key * 3
    description = NARRATIVES.get(
        rep.problems[0], f"THE DEVICE SHOWED A PROBLEM CODED AS {rep.problems[0].upper()}"
    )
    outcome_text = {
        "D": "THE PATIENT DIED; THE RELATIONSHIP TO THE DEVICE IS UNKNOWN.",
        "IN": "THE PATIENT REQUIRED MEDICAL INTERVENTION.",
        "M": "NO PATIENT INJURY WAS REPORTED.",
        "O": "FURTHER INFORMATION WAS NOT PROVIDED.",
    }[rep.event_type]
    text_rows.append(
        [
            str(rep.key),
            str(base_key),
            "D",
            "1",
            _mdy(date_report),
            f"SYNTHETIC SAMPLE RECORD - NOT A REAL REPORT. IT WAS REPORTED THAT {description}. "
            f"{outcome_text}",
        ]
    )
    if rep.source_code == "M" and rng.random() < 0.6:
        text_rows.append(
            [
                str(rep.key),
                str(base_key + 1),
                rng.choice(("N", "E")),
                "",
                _mdy(date_report),
                "SYNTHETIC SAMPLE RECORD. THE MANUFACTURER'S INVESTIGATION IS ONGOING; "
                "A SUPPLEMENTAL REPORT WILL BE SUBMITTED IF ADDITIONAL INFORMATION BECOMES "
                "AVAILABLE.",
            ]
        )
    outcome = "; ".join(f"{i}. {code}" for i, code in enumerate(rep.outcomes, 1))
    age = ""
    if rng.random() < 0.7:
        age = (
            f"{rng.randint(2, 17)} YR"
            if dev.code in ("LZG", "QBJ") and rng.random() < 0.15
            else f"{max(18, min(95, round(rng.gauss(58, 17))))} YR"
        )
    sex = rng.choice(("Female", "Male", "Female", "Male", "Unknown", ""))
    weight = f"{rng.randint(40, 140)} KG" if rng.random() < 0.3 else ""
    patient = [[str(rep.key), "1", _mdy(rep.received), "", outcome, age, sex, weight, "", ""]]
    problems = [[str(rep.key), codes[term]] for term in rep.problems]
    return {
        "mdrfoi": [mdrfoi],
        "foidev": [foidev],
        "foitext": text_rows,
        "patient": patient,
        "foidevproblem": problems,
    }


def _udi_di(dev: DeviceCode) -> str:
    """A GTIN-14 with a valid check digit under a made-up company prefix."""
    body = f"0099990{sum(ord(c) for c in dev.code):06d}"[:13]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def generate_maude(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write the MAUDE bulk files under `out_dir/maude`; return the manifest section."""
    rng = section_rng(seed, "maude")
    reports = _build(rng)
    codes = _problem_codes()
    row_rng = section_rng(seed, "maude-rows")
    seq: Counter[str] = Counter()
    tables: dict[str, list[list[str]]] = {
        k: [] for k in ("mdrfoi", "foidev", "foitext", "patient", "foidevproblem")
    }
    by_year: dict[str, dict[int, list[list[str]]]] = {"foidev": {}, "foitext": {}}
    for rep in reports:
        report_rows = _rows(rep, row_rng, codes, seq)
        for kind, kind_rows in report_rows.items():
            if kind in by_year:
                by_year[kind].setdefault(rep.received.year, []).extend(kind_rows)
            else:
                tables[kind].extend(kind_rows)

    folder = out_dir / "maude"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    last_year = reports[-1].received.year

    def emit(
        zip_name: str, member: str, kind: str, header: tuple[str, ...], rows: list[list[str]]
    ) -> None:
        write_zip(folder / zip_name, [(member, _file_bytes(header, rows))])
        files.append(
            {"path": f"maude/{zip_name}", "member": member, "table": kind, "rows": len(rows)}
        )

    emit(
        f"mdrfoiThru{last_year}.zip",
        f"mdrfoiThru{last_year}.txt",
        "mdrfoi",
        current_header("mdrfoi"),
        tables["mdrfoi"],
    )
    for year, rows in sorted(by_year["foidev"].items()):
        emit(f"device{year}.zip", f"DEVICE{year}.txt", "foidev", current_header("foidev"), rows)
    for year, rows in sorted(by_year["foitext"].items()):
        emit(f"foitext{year}.zip", f"foitext{year}.txt", "foitext", current_header("foitext"), rows)
    emit(
        f"patientThru{last_year}.zip",
        f"patientThru{last_year}.txt",
        "patient",
        current_header("patient"),
        tables["patient"],
    )
    emit(
        "foidevproblem.zip",
        "foidevproblem.txt",
        "foidevproblem",
        PROBLEM_HEADER,
        tables["foidevproblem"],
    )
    code_lines = [",".join(PROBLEM_CODES_HEADER)] + [
        f'{code},"{term}"' if "," in term else f"{code},{term}" for term, code in codes.items()
    ]
    (folder / "deviceproblemcodes.csv").write_bytes(
        ("\r\n".join(code_lines) + "\r\n").encode("latin-1")
    )
    files.append(
        {"path": "maude/deviceproblemcodes.csv", "table": "deviceproblemcodes", "rows": len(codes)}
    )

    return {
        "period": {"start": "2022-01", "end": "2025-06", "months": MONTHS},
        "files": files,
        "reports": len(reports),
        "focus_product_codes": [d.code for d in FOCUS_DEVICES],
        "background_product_codes": [d.code for d in BACKGROUND_DEVICES],
        "event_type_counts": dict(sorted(Counter(r.event_type for r in reports).items())),
        "planted": _planted(reports),
        "month_basis": "DATE_RECEIVED",
        "problem_code_note": (
            "problem terms are FDA device problem terms; their numeric codes are illustrative"
        ),
    }


def _planted(reports: list[_Report]) -> dict[str, Any]:
    n = len(reports)
    by_code: Counter[str] = Counter(r.device.code for r in reports)
    term_reports: Counter[str] = Counter(t for r in reports for t in r.problems)
    monthly: dict[str, Counter[str]] = {d.code: Counter() for d in FOCUS_DEVICES}
    for r in reports:
        if r.device.code in monthly:
            monthly[r.device.code][r.received.strftime("%Y-%m")] += 1
    a = sum(1 for r in reports if r.device.code == "LZG" and DEVICE_SIGNAL_PROBLEM in r.problems)
    b = by_code["LZG"] - a
    c = term_reports[DEVICE_SIGNAL_PROBLEM] - a
    d = n - a - b - c
    return {
        "reports_by_product_code": dict(sorted(by_code.items())),
        "monthly_reports_by_focus_code": {k: dict(sorted(v.items())) for k, v in monthly.items()},
        "signal": {
            "product_code": "LZG",
            "device_problem": DEVICE_SIGNAL_PROBLEM,
            "a": a,
            "b": b,
            "c": c,
            "d": d,
            "prr": round((a / (a + b)) / (c / (c + d)), 4),
        },
        "trend": {
            "product_code": "LZG",
            "direction": "increasing",
            "expected_per_month": {"first": LZG_TREND[0], "last": LZG_TREND[1]},
        },
        "null_profile": {"product_code": "DQA", "expected_per_month": DQA_PER_MONTH},
    }
