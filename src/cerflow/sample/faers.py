"""Synthetic FAERS quarterly ASCII extracts in FDA's current layout.

Layout copied from the real 2017Q2 extract (`faers_ascii_2017q2.zip`): one zip per quarter
holding `ascii/DEMOyyQq.txt`, `DRUG`, `REAC`, `OUTC`, `RPSR`, `THER`, `INDI`; `$`-delimited,
header row of lower-case column names, no quoting, LF line ends, an empty last field leaving
a trailing `$` (as DRUG rows without `dose_freq` do in the real file), `primaryid` =
`caseid` followed by `caseversion`. Coded values use FDA's ASC_NTS code lists (role_cod
PS/SS/C/I, outc_cod DE/LT/HO/DS/CA/RI/OT, rept_cod EXP/PER/DIR, ...).

What is planted (numbers in `manifest.json`, recomputed from the final case versions):
* a disproportionality signal: atorvastatin x Rhabdomyolysis (and milder statin muscle PTs);
* an upward trend in atorvastatin reports and one anomalous month (a spike);
* a null profile for metformin: its PTs are drawn from the background distribution;
* data quirks: follow-up versions (caseversion 2 in a later quarter, `i_f_code` F), cases
  first seen at a later version, event dates with year or month precision only, missing
  ages, non-year age units, every role and every outcome code.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerflow.sample._util import (
    cumulative,
    days_in_month,
    month_range,
    poisson,
    quarter_of,
    section_rng,
    weighted,
    write_zip,
    zipf_weights,
)
from cerflow.sample.vocabulary import (
    BACKGROUND_DRUGS,
    BACKGROUND_PTS,
    FATAL_PTS,
    FOCUS_DRUGS,
    SIGNAL_PT,
    STATIN_PTS,
    Drug,
)

# Column order of the real 2017Q2 files (checked by tests/sample against the real zip).
HEADERS: dict[str, list[str]] = {
    "DEMO": [
        "primaryid",
        "caseid",
        "caseversion",
        "i_f_code",
        "event_dt",
        "mfr_dt",
        "init_fda_dt",
        "fda_dt",
        "rept_cod",
        "auth_num",
        "mfr_num",
        "mfr_sndr",
        "lit_ref",
        "age",
        "age_cod",
        "age_grp",
        "sex",
        "e_sub",
        "wt",
        "wt_cod",
        "rept_dt",
        "to_mfr",
        "occp_cod",
        "reporter_country",
        "occr_country",
    ],
    "DRUG": [
        "primaryid",
        "caseid",
        "drug_seq",
        "role_cod",
        "drugname",
        "prod_ai",
        "val_vbm",
        "route",
        "dose_vbm",
        "cum_dose_chr",
        "cum_dose_unit",
        "dechal",
        "rechal",
        "lot_num",
        "exp_dt",
        "nda_num",
        "dose_amt",
        "dose_unit",
        "dose_form",
        "dose_freq",
    ],
    "REAC": ["primaryid", "caseid", "pt", "drug_rec_act"],
    "OUTC": ["primaryid", "caseid", "outc_cod"],
    "RPSR": ["primaryid", "caseid", "rpsr_cod"],
    "THER": ["primaryid", "caseid", "dsg_drug_seq", "start_dt", "end_dt", "dur", "dur_cod"],
    "INDI": ["primaryid", "caseid", "indi_drug_seq", "indi_pt"],
}
TABLES = tuple(HEADERS)

START = dt.date(2022, 1, 1)
MONTHS = 42  # 2022-01 .. 2025-06: 14 quarters
SPIKE_MONTH = dt.date(2024, 3, 1)
BACKGROUND_PER_MONTH = 420.0
TREND_START, TREND_END = 16.0, 58.0  # atorvastatin expected reports per month
SPIKE_FACTOR = 3.2
NULL_PER_MONTH = 30.0  # metformin
SIGNAL_RATE = 0.11  # P(Rhabdomyolysis | atorvastatin report)
BACKGROUND_SIGNAL_RATE = 0.004
FOLLOWUP_RATE = 0.06
SAME_QUARTER_DUPLICATE_RATE = 0.01
DELETED_PER_QUARTER = 3
DELETE_QUARTERS = ((2023, 2), (2024, 4))

ROLE_CODES = ("PS", "SS", "C", "I")
OUTCOME_CODES = ("DE", "LT", "HO", "DS", "CA", "RI", "OT")
REPT_CODES = ("EXP", "PER", "DIR")
RPSR_CODES = ("FGN", "SDY", "LIT", "CSM", "HP", "UF", "CR", "DT", "OTH")
OCCP_CODES = ("MD", "PH", "OT", "LW", "CN", "HP")
AGE_CODES = ("DEC", "YR", "MON", "WK", "DY", "HR")
AGE_GROUPS = ("N", "I", "C", "T", "A", "E")
SEX_CODES = ("F", "M", "UNK")
DUR_CODES = ("YR", "MON", "WK", "DAY", "HR", "MIN", "SEC")
DECHAL_CODES = ("Y", "N", "U", "D")
MANUFACTURERS = (
    "PFIZER",
    "NOVARTIS",
    "TEVA",
    "MYLAN",
    "SANDOZ",
    "MERCK",
    "ASTRAZENECA",
    "SANOFI",
    "AMGEN",
    "ABBVIE",
)
COUNTRIES = ("US",) * 13 + ("GB", "DE", "FR", "JP", "CA", "IT", "ES", "BR", "CN", "IN")


@dataclass(slots=True)
class _DrugUse:
    role: str
    drug: Drug
    name: str
    dose: tuple[str, str, str] | None  # amount, unit, frequency


@dataclass(slots=True)
class _Case:
    caseid: int
    init_fda_dt: dt.date
    group: str  # "atorvastatin" | "metformin" | "background"
    uses: list[_DrugUse]
    pts: list[str]
    outcomes: list[str]
    event_dt: str
    age: str
    age_cod: str
    age_grp: str
    sex: str
    wt: str
    wt_cod: str
    rept_cod: str
    occp_cod: str
    country: str
    mfr: str
    rpsr: list[str]
    first_version: int = 1
    # (caseversion, fda_dt, outcomes of that version)
    versions: list[tuple[int, dt.date, list[str]]] = field(default_factory=list)


def _fmt(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _partial(rng: random.Random, day: dt.date) -> str:
    """An event date at the precision FAERS reporters give: day, month, year, or none."""
    r = rng.random()
    if r < 0.58:
        return _fmt(day)
    if r < 0.74:
        return day.strftime("%Y%m")
    if r < 0.84:
        return day.strftime("%Y")
    return ""


def _drug_name(rng: random.Random, drug: Drug) -> str:
    r = rng.random()
    if r < 0.55:
        return drug.brand
    if r < 0.85:
        return drug.generic
    base = drug.generic.split()[0]
    return f"{base} {rng.choice(('10', '20', '40', '80', '500', '1000'))} MG"


class _FaersBuilder:
    def __init__(self, seed: int) -> None:
        self.rng = section_rng(seed, "faers")
        self.months = month_range(START, MONTHS)
        self.next_caseid = 20_400_000
        bg_weights = zipf_weights(len(BACKGROUND_DRUGS), 0.8)
        self.bg_drug_cum = cumulative(bg_weights)
        self.pt_cum = cumulative(zipf_weights(len(BACKGROUND_PTS), 0.95))
        self.cases: list[_Case] = []

    def _caseid(self) -> int:
        self.next_caseid += self.rng.randint(1, 9)
        return self.next_caseid

    def _bg_drug(self) -> Drug:
        return weighted(self.rng, BACKGROUND_DRUGS, self.bg_drug_cum)

    def _bg_pts(self, k: int) -> list[str]:
        pts: list[str] = []
        while len(pts) < k:
            pt = weighted(self.rng, BACKGROUND_PTS, self.pt_cum)
            if pt not in pts:
                pts.append(pt)
        return pts

    def _dose(self, drug: Drug) -> tuple[str, str, str] | None:
        if self.rng.random() < 0.6:
            return None
        amount = self.rng.choice(("5", "10", "20", "40", "80", "500", "850", "1000"))
        return amount, "MG", self.rng.choice(("QD", "BID", "TID", "QW", ""))

    def _use(self, role: str, drug: Drug) -> _DrugUse:
        return _DrugUse(role, drug, _drug_name(self.rng, drug), self._dose(drug))

    def _case(self, month: dt.date, group: str) -> _Case:
        rng = self.rng
        day = month + dt.timedelta(days=rng.randrange(days_in_month(month)))
        if group == "atorvastatin":
            ps = FOCUS_DRUGS[0]
        elif group == "metformin":
            ps = FOCUS_DRUGS[1]
        else:
            ps = self._bg_drug()
        uses = [self._use("PS", ps)]
        if rng.random() < 0.18:
            other = self._bg_drug()
            if group == "background" and rng.random() < 0.03:
                other = FOCUS_DRUGS[0]
            if other is not ps:
                uses.append(self._use("SS", other))
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3))):
            other = self._bg_drug()
            r = rng.random()
            if r < 0.012:
                other = FOCUS_DRUGS[0]
            elif r < 0.024:
                other = FOCUS_DRUGS[1]
            if all(u.drug is not other for u in uses):
                uses.append(self._use("C", other))
        if rng.random() < 0.02:
            other = self._bg_drug()
            if all(u.drug is not other for u in uses):
                uses.append(self._use("I", other))

        k = rng.choice((1, 1, 1, 2, 2, 3, 4))
        pts = self._bg_pts(k)
        if group == "atorvastatin":
            if rng.random() < SIGNAL_RATE:
                pts[0] = SIGNAL_PT
            if rng.random() < 0.08:
                pts.append(rng.choice(STATIN_PTS))
        elif group == "background" and rng.random() < BACKGROUND_SIGNAL_RATE:
            pts[0] = SIGNAL_PT
        pts = list(dict.fromkeys(pts))

        outcomes: list[str] = []
        if any(pt in FATAL_PTS for pt in pts) and rng.random() < 0.6:
            outcomes.append("DE")
        if SIGNAL_PT in pts:
            outcomes.append("HO")
        r = rng.random()
        if r < 0.30:
            outcomes.append("OT")
        elif r < 0.45:
            outcomes.append("HO")
        elif r < 0.49:
            outcomes.append("LT")
        elif r < 0.52:
            outcomes.append("DS")
        elif r < 0.545:
            outcomes.append("RI")
        elif r < 0.55:
            outcomes.append("CA")
        elif r < 0.57:
            outcomes.append("DE")
        outcomes = list(dict.fromkeys(outcomes))

        event_day = day - dt.timedelta(days=rng.randrange(0, 90))
        if rng.random() < 0.24:
            age, age_cod, age_grp = "", "", rng.choice(("", "", "", "A", "E"))
        else:
            r = rng.random()
            if r < 0.93:
                years = max(18, min(97, round(rng.gauss(62, 15))))
                age, age_cod = str(years), "YR"
                age_grp = rng.choice(("", "", "E" if years >= 65 else "A"))
            elif r < 0.95:
                age, age_cod, age_grp = str(rng.randint(2, 9)), "DEC", ""
            elif r < 0.97:
                age, age_cod, age_grp = str(rng.randint(1, 23)), "MON", "I"
            elif r < 0.98:
                age, age_cod, age_grp = str(rng.randint(1, 8)), "WK", "N"
            elif r < 0.995:
                age, age_cod, age_grp = str(rng.randint(1, 27)), "DY", "N"
            else:
                age, age_cod, age_grp = str(rng.randint(1, 48)), "HR", "N"
        r = rng.random()
        sex = "F" if r < 0.55 else "M" if r < 0.93 else "UNK" if r < 0.97 else ""
        if rng.random() < 0.3:
            if rng.random() < 0.9:
                wt, wt_cod = f"{rng.uniform(45, 130):.1f}", "KG"
            else:
                wt, wt_cod = str(rng.randint(100, 280)), "LBS"
        else:
            wt, wt_cod = "", ""
        r = rng.random()
        rept_cod = "EXP" if r < 0.58 else "PER" if r < 0.9 else "DIR"
        country = rng.choice(COUNTRIES)
        occp = rng.choice(OCCP_CODES)
        rpsr: list[str] = []
        if rept_cod == "DIR" or rng.random() < 0.05:
            rpsr = [rng.choice(RPSR_CODES)]
            if country != "US" and "FGN" not in rpsr:
                rpsr.append("FGN")
        case = _Case(
            caseid=self._caseid(),
            init_fda_dt=day,
            group=group,
            uses=uses,
            pts=pts,
            outcomes=outcomes,
            event_dt=_partial(rng, event_day),
            age=age,
            age_cod=age_cod,
            age_grp=age_grp,
            sex=sex,
            wt=wt,
            wt_cod=wt_cod,
            rept_cod=rept_cod,
            occp_cod=occp,
            country=country,
            mfr="" if rept_cod == "DIR" else rng.choice(MANUFACTURERS),
            rpsr=rpsr,
        )
        # Versions: most cases are seen once at version 1; some arrive as a follow-up
        # (first seen at version 2 or 3); some get a version 2 in a later quarter.
        first = 1 if rng.random() < 0.9 else rng.choice((2, 3))
        case.first_version = first
        case.versions.append((first, day, list(outcomes)))
        last_quarter_start = self.months[-3]
        if rng.random() < FOLLOWUP_RATE and month < last_quarter_start and month != SPIKE_MONTH:
            later = day + dt.timedelta(days=rng.randint(95, 200))
            if later < self.months[-1] + dt.timedelta(days=28):
                updated = list(outcomes)
                if "HO" not in updated:
                    updated.append("HO")
                case.versions.append((first + 1, later, updated))
        elif rng.random() < SAME_QUARTER_DUPLICATE_RATE and day.month % 3 == 1 and day.day < 20:
            # A follow-up received within the same quarter: both versions in one DEMO file.
            case.versions.append((first + 1, day + dt.timedelta(days=7), list(outcomes)))
        return case

    def build(self) -> list[_Case]:
        rng = self.rng
        for index, month in enumerate(self.months):
            trend = TREND_START + (TREND_END - TREND_START) * index / (MONTHS - 1)
            lam = trend * (SPIKE_FACTOR if month == SPIKE_MONTH else 1.0)
            counts = {
                "background": poisson(rng, BACKGROUND_PER_MONTH),
                "atorvastatin": poisson(rng, lam),
                "metformin": poisson(rng, NULL_PER_MONTH),
            }
            month_cases = [
                self._case(month, group)
                for group in ("background", "atorvastatin", "metformin")
                for _ in range(counts[group])
            ]
            rng.shuffle(month_cases)
            self.cases.extend(month_cases)
        self._allocate_null_pts([c for c in self.cases if c.group == "metformin"])
        return self.cases

    def _allocate_null_pts(self, cases: list[_Case]) -> None:
        """Give the null-profile drug exactly the background's PT shares (largest remainder),
        so its PRRs sit at ~1 by construction rather than by luck of the draw."""
        slots = sum(len(c.pts) for c in cases)
        weights = zipf_weights(len(BACKGROUND_PTS), 0.95)
        total = sum(weights)
        quotas = [w / total * slots for w in weights]
        counts = [int(q) for q in quotas]
        order = sorted(range(len(quotas)), key=lambda i: (counts[i] - quotas[i], i))
        for i in order[: slots - sum(counts)]:
            counts[i] += 1
        pool = [pt for pt, n in zip(BACKGROUND_PTS, counts, strict=True) for _ in range(n)]
        self.rng.shuffle(pool)
        for case in cases:
            k = len(case.pts)
            chosen: list[str] = []
            while len(chosen) < k and pool:
                pt = pool.pop()
                if pt in chosen:
                    pool.insert(0, pt)  # try it on a later case
                    if all(p in chosen for p in pool):
                        break
                    continue
                chosen.append(pt)
            case.pts = chosen or case.pts


def _rows(
    case: _Case, version: int, fda_dt: dt.date, outcomes: list[str], rng: random.Random
) -> tuple[str, dict[str, list[list[str]]]]:
    """Table rows for one version of a case."""
    pid = f"{case.caseid}{version}"
    cid = str(case.caseid)
    mfr_dt = fda_dt - dt.timedelta(days=rng.randint(1, 14)) if case.mfr else None
    mfr_num = (
        f"{case.country}-{case.mfr}-{fda_dt.year}{case.country}{case.caseid % 1000000:06d}"
        if case.mfr
        else ""
    )
    lit_ref = ""
    if "LIT" in case.rpsr:
        lit_ref = f"SYNTHETIC A, EXAMPLE B. CASE REPORT {case.caseid}. J SYNTH MED. {fda_dt.year}"
    demo = [
        pid,
        cid,
        str(version),
        "I" if version == 1 else "F",
        case.event_dt,
        _fmt(mfr_dt) if mfr_dt else "",
        _fmt(case.init_fda_dt),
        _fmt(fda_dt),
        case.rept_cod,
        f"{case.country}-AUTH-{case.caseid}" if case.country != "US" and case.mfr else "",
        mfr_num,
        case.mfr or "FDA-CTU",
        lit_ref,
        case.age,
        case.age_cod,
        case.age_grp,
        case.sex,
        "N" if case.rept_cod == "DIR" else "Y",
        case.wt,
        case.wt_cod,
        _fmt(fda_dt),
        rng.choice(("Y", "N")) if case.rept_cod == "DIR" else "",
        case.occp_cod,
        case.country,
        case.country,
    ]
    out: dict[str, list[list[str]]] = defaultdict(list)
    out["DEMO"].append(demo)
    for seq, use in enumerate(case.uses, 1):
        amount, unit, freq = use.dose or ("", "", "")
        out["DRUG"].append(
            [
                pid,
                cid,
                str(seq),
                use.role,
                use.name,
                use.drug.generic,
                "1" if use.name in (use.drug.brand, use.drug.generic) else "2",
                use.drug.route if rng.random() < 0.7 else "Unknown",
                f"{amount} {unit} {freq}".strip() if use.dose else "",
                "",
                "",
                rng.choice(DECHAL_CODES) if use.role in ("PS", "SS") else "",
                rng.choice(DECHAL_CODES) if use.role in ("PS", "SS") else "",
                "",
                "",
                use.drug.nda if use.role == "PS" else "",
                amount,
                unit,
                use.drug.dose_form if rng.random() < 0.6 else "",
                freq,
            ]
        )
        if use.role == "PS" or rng.random() < 0.4:
            indication = (
                use.drug.indication if rng.random() < 0.8 else "Product used for unknown indication"
            )
            out["INDI"].append([pid, cid, str(seq), indication])
        if use.role == "PS" and rng.random() < 0.7:
            start = case.init_fda_dt - dt.timedelta(days=rng.randint(30, 1500))
            r = rng.random()
            start_s = (
                _fmt(start)
                if r < 0.5
                else start.strftime("%Y%m")
                if r < 0.8
                else start.strftime("%Y")
            )
            dur, dur_cod = "", ""
            if rng.random() < 0.25:
                dur, dur_cod = str(rng.randint(1, 30)), rng.choice(DUR_CODES)
            end = ""
            if rng.random() < 0.3:
                end = _fmt(case.init_fda_dt - dt.timedelta(days=rng.randint(0, 20)))
            out["THER"].append([pid, cid, str(seq), start_s, end, dur, dur_cod])
    for pt in case.pts:
        out["REAC"].append([pid, cid, pt, pt if rng.random() < 0.03 else ""])
    for code in outcomes:
        out["OUTC"].append([pid, cid, code])
    for code in case.rpsr:
        out["RPSR"].append([pid, cid, code])
    return pid, out


def _table_bytes(table: str, rows: list[list[str]]) -> bytes:
    lines = ["$".join(HEADERS[table])]
    for row in rows:
        if len(row) != len(HEADERS[table]):  # pragma: no cover - generator bug guard
            raise AssertionError(f"{table}: {len(row)} values for {len(HEADERS[table])} columns")
        lines.append("$".join(row))
    return ("\n".join(lines) + "\n").encode("ascii")


def _final_stats(cases: list[_Case]) -> dict[str, Any]:
    """Counts on the final version of every case: what a correct ETL must reproduce."""
    suspect = ("PS", "SS", "I")
    focus = {
        d.generic: name for d, name in zip(FOCUS_DRUGS, ("atorvastatin", "metformin"), strict=True)
    }
    n_total = len(cases)
    pt_counts: Counter[str] = Counter()
    drug_reports: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    monthly: dict[str, Counter[str]] = {name: Counter() for name in focus.values()}
    for case in cases:
        pts = set(case.pts)
        pt_counts.update(pts)
        names = {
            focus[u.drug.generic]
            for u in case.uses
            if u.role in suspect and u.drug.generic in focus
        }
        for name in names:
            drug_reports[name] += 1
            monthly[name][case.init_fda_dt.strftime("%Y-%m")] += 1
            for pt in pts:
                pair[(name, pt)] += 1

    def prr(name: str, pt: str) -> dict[str, float | int]:
        a = pair[(name, pt)]
        b = drug_reports[name] - a
        c = pt_counts[pt] - a
        d = n_total - a - b - c
        value = (a / (a + b)) / (c / (c + d)) if c else float("inf")
        n = a + b + c + d
        chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
        return {"a": a, "b": b, "c": c, "d": d, "prr": round(value, 4), "chi2": round(chi2, 4)}

    def evans(stats: dict[str, float | int]) -> bool:
        return stats["a"] >= 3 and stats["prr"] >= 2 and stats["chi2"] >= 4

    null_pairs = [
        (pt, prr("metformin", pt))
        for (name, pt), n in pair.items()
        if name == "metformin" and n >= 3
    ]
    max_null = max(null_pairs, key=lambda item: float(item[1]["prr"]))
    return {
        "cases": n_total,
        "suspect_role_rule": "a report counts for a drug when the drug has role PS, SS or I",
        "reports_by_focus_drug": dict(drug_reports),
        "monthly_reports_by_focus_drug": {k: dict(sorted(v.items())) for k, v in monthly.items()},
        "signal": {"drug": "atorvastatin", "pt": SIGNAL_PT, **prr("atorvastatin", SIGNAL_PT)},
        "evans_criteria": "a >= 3, PRR >= 2, chi-square (2x2, no continuity correction) >= 4",
        "null_profile": {
            "drug": "metformin",
            "pts_meeting_evans_criteria": sum(evans(stats) for _, stats in null_pairs),
            "max_prr_pt_with_3_or_more": max_null[0],
            **max_null[1],
        },
    }


def generate_faers(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write one zip per quarter under `out_dir/faers`; return the manifest section."""
    builder = _FaersBuilder(seed)
    cases = builder.build()
    row_rng = section_rng(seed, "faers-rows")
    # FDA's deleted-cases list: cases withdrawn in the quarter they arrived in.
    deleted: dict[tuple[int, int], list[int]] = {}
    for quarter in DELETE_QUARTERS:
        candidates = [
            c.caseid
            for c in cases
            if c.group == "background"
            and len(c.versions) == 1
            and quarter_of(c.versions[0][1]) == quarter
        ]
        deleted[quarter] = sorted(row_rng.sample(candidates, DELETED_PER_QUARTER))
    deleted_ids = {cid for ids in deleted.values() for cid in ids}
    by_quarter: dict[tuple[int, int], dict[str, list[tuple[int, list[str]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    final_outcomes: dict[int, list[str]] = {}
    version_rows = 0
    for case in cases:
        for version, fda_dt, outcomes in case.versions:
            pid, version_tables = _rows(case, version, fda_dt, outcomes, row_rng)
            quarter = quarter_of(fda_dt)
            for table in TABLES:
                for row in version_tables.get(table, []):
                    by_quarter[quarter][table].append((int(pid), row))
            version_rows += 1
            final_outcomes[case.caseid] = outcomes
    for case in cases:
        case.outcomes = final_outcomes[case.caseid]
    cases = [c for c in cases if c.caseid not in deleted_ids]

    folder = out_dir / "faers"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    for (year, q), tables in sorted(by_quarter.items()):
        tag = f"{year % 100:02d}Q{q}"
        members = []
        counts = {}
        for table in TABLES:
            rows = [row for _, row in sorted(tables.get(table, []), key=lambda item: item[0])]
            counts[table] = len(rows)
            members.append((f"ascii/{table}{tag}.txt", _table_bytes(table, rows)))
        if (year, q) in deleted:
            text = "".join(f"{cid}\n" for cid in deleted[(year, q)])
            members.append((f"deleted/DELETE{tag}.txt", text.encode("ascii")))
        name = f"faers_ascii_{year}Q{q}.zip"
        write_zip(folder / name, members)
        files.append({"path": f"faers/{name}", "quarter": f"{year}Q{q}", "rows": counts})

    stats = _final_stats(cases)
    outcome_counter: Counter[str] = Counter(code for c in cases for code in c.outcomes)
    return {
        "period": {"start": "2022-01", "end": "2025-06", "months": MONTHS},
        "files": files,
        "demo_rows": version_rows,
        "cases": stats.pop("cases"),
        "followup_versions": version_rows - len(cases) - len(deleted_ids),
        "deleted_cases": {f"{y}Q{q}": ids for (y, q), ids in deleted.items()},
        "focus_drugs": [
            {
                "name": "atorvastatin",
                "prod_ai": FOCUS_DRUGS[0].generic,
                "brand": FOCUS_DRUGS[0].brand,
            },
            {"name": "metformin", "prod_ai": FOCUS_DRUGS[1].generic, "brand": FOCUS_DRUGS[1].brand},
        ],
        "background_drugs": len(BACKGROUND_DRUGS),
        "distinct_pts": len({pt for c in cases for pt in c.pts}),
        "final_outcome_counts": dict(sorted(outcome_counter.items())),
        "planted": {
            **stats,
            "trend": {
                "drug": "atorvastatin",
                "direction": "increasing",
                "expected_per_month": {"first": TREND_START, "last": TREND_END},
            },
            "spike": {
                "drug": "atorvastatin",
                "month": SPIKE_MONTH.strftime("%Y-%m"),
                "factor": SPIKE_FACTOR,
            },
        },
        "month_basis": "init_fda_dt (date FDA first received the case)",
    }
