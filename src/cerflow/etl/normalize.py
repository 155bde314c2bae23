"""Normalization rules: drug names to an ingredient key, MedDRA terms, dates, ages, sex.

Drug key rule set (documented because a notified body may ask how products were grouped):
1. Prefer openFDA's harmonized `generic_name`/`substance_name` when present (the caller
   passes it); else FAERS `prod_ai` (active ingredient); else the verbatim name.
2. Upper-case, strip accents, drop bracketed text and punctuation except the ingredient
   separators `/` `\\` `+` `,` `;` and the word `AND`, and `-` inside words.
3. Drop strengths (`10 MG`, `0.5%`, `100 MG/ML`, `40 MG/0.8 ML`) and then any bare number.
4. Split into ingredients at the separators. In each, drop dose-form words (TABLET,
   INJECTION, FILM COATED, EXTENDED-RELEASE...), then trailing salt / hydrate words
   (`ATORVASTATIN CALCIUM` -> `ATORVASTATIN`, `ESOMEPRAZOLE MAGNESIUM DIHYDRATE` ->
   `ESOMEPRAZOLE`) unless nothing but salt or metal words would remain, so the salt *is*
   the drug (`SODIUM CHLORIDE`, `FERROUS SULFATE`, `MAGNESIUM OXIDE` stay whole). Leading
   salt words are never stripped (`CALCIUM GLUCONATE` stays).
5. Combination products keep their ingredients de-duplicated, sorted and joined with ` / `.
Known limits: brand names stay brand names (`TYLENOL`) unless the source gives the
ingredient; `SODIUM VALPROATE` and `VALPROATE SODIUM` give different keys.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import lru_cache

from cerflow.etl.records import PartialDate

_SALTS = {
    "ACETATE",
    "BESYLATE",
    "BESILATE",
    "BISULFATE",
    "BISULPHATE",
    "BITARTRATE",
    "BROMIDE",
    "CALCIUM",
    "CARBONATE",
    "CHLORIDE",
    "CITRATE",
    "DIHYDRATE",
    "DIPROPIONATE",
    "DISODIUM",
    "FUMARATE",
    "GLUCONATE",
    "HCL",
    "HEMIHYDRATE",
    "HYCLATE",
    "HYDROBROMIDE",
    "HYDROCHLORIDE",
    "HYDRATE",
    "LACTATE",
    "MAGNESIUM",
    "MALATE",
    "MALEATE",
    "MESYLATE",
    "MONOHYDRATE",
    "NITRATE",
    "OXALATE",
    "PHOSPHATE",
    "POTASSIUM",
    "PROPIONATE",
    "SODIUM",
    "SUCCINATE",
    "SULFATE",
    "SULPHATE",
    "TARTRATE",
    "TOSYLATE",
    "TRIHYDRATE",
    "VALERATE",
    "XINAFOATE",
    "ANHYDROUS",
}
# Metal / cation words: when only these (and salt words) remain, the salt is the drug.
_CATIONS = {
    "ALUMINIUM",
    "ALUMINUM",
    "AMMONIUM",
    "BARIUM",
    "CALCIUM",
    "COPPER",
    "CUPRIC",
    "FERRIC",
    "FERROUS",
    "IRON",
    "LITHIUM",
    "MAGNESIUM",
    "POTASSIUM",
    "SILVER",
    "SODIUM",
    "STRONTIUM",
    "ZINC",
}
_FORMS = {
    "TABLET",
    "TABLETS",
    "TAB",
    "TABS",
    "CAPSULE",
    "CAPSULES",
    "CAP",
    "CAPS",
    "INJECTION",
    "INJECTABLE",
    "SOLUTION",
    "SUSPENSION",
    "CREAM",
    "OINTMENT",
    "GEL",
    "PATCH",
    "SPRAY",
    "POWDER",
    "SYRUP",
    "ELIXIR",
    "DROPS",
    "ORAL",
    "TOPICAL",
    "INTRAVENOUS",
    "IV",
    "FILM",
    "COATED",
    "EXTENDED",
    "RELEASE",
    "DELAYED",
    "ER",
    "XR",
    "SR",
    "CR",
    "DR",
    "XL",
    "ODT",
    "CHEWABLE",
    "PEN",
    "PREFILLED",
    "SYRINGE",
    "VIAL",
    "KIT",
    "INHALER",
    "AEROSOL",
    "NASAL",
    "OPHTHALMIC",
    "EMULSION",
    "CONCENTRATE",
    "LIQUID",
    "LOTION",
    "FOR",
    "USP",
    "INJ",
    "SOLN",
    "SUSP",
    "MODIFIED",
    "PROLONGED",
    "SUSTAINED",
    "CONTROLLED",
    "DISPERSIBLE",
    "EFFERVESCENT",
    "SUBCUTANEOUS",
    "INTRAMUSCULAR",
    "AUTOINJECTOR",
    "CARTRIDGE",
    "AMPULE",
    "AMPOULE",
}
_UNITS = r"(?:MG|MCG|UG|NG|G|GM|GRAMS?|KG|ML|L|IU|UNITS?|U|MEQ|MMOL|MOL|%|PERCENT)"
_STRENGTH = re.compile(
    r"(?<![A-Z0-9])\d+(?:[.,]\d+)?\s*" + _UNITS + r"(?:\s*/\s*(?:\d+(?:[.,]\d+)?\s*)?"
    r"(?:MG|MCG|UG|G|ML|L|H|HR|HRS|HOURS?|DOSE|ACTUATIONS?|SPRAY|PUFF|KG|M2))?(?![A-Z0-9])"
)
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NONWORD = re.compile(r"[^A-Z0-9/\\+,;\- ]+")
_SPLIT = re.compile(r"\s*(?:/|\\|\+|,|;|\bAND\b)\s*")
_NUMBER = re.compile(r"^[\d.,\-]+$")
_SPACES = re.compile(r"\s+")


def _ascii_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _is_form(word: str) -> bool:
    return all(p in _FORMS for p in word.split("-") if p)


def _clean_ingredient(part: str) -> str:
    words = [w.strip("-") for w in part.split()]
    words = [w for w in words if w and not _NUMBER.match(w) and not _is_form(w)]
    end = len(words)
    while end > 1 and words[end - 1] in _SALTS:
        end -= 1
    if any(w not in _SALTS and w not in _CATIONS for w in words[:end]):
        words = words[:end]
    return " ".join(words)


@lru_cache(maxsize=1 << 18)
def drug_key(name: str | None) -> str:
    """Normalized ingredient key for a verbatim drug name; '' if nothing usable remains."""
    if not name:
        return ""
    text = _ascii_upper(name)
    text = _BRACKETS.sub(" ", text)
    text = _STRENGTH.sub(" ", text)
    text = _NONWORD.sub(" ", text)
    parts = {_clean_ingredient(p) for p in _SPLIT.split(text)}
    return " / ".join(sorted(p for p in parts if p))


@lru_cache(maxsize=1 << 16)
def term_key(term: str | None) -> str:
    """MedDRA PT / device problem terms compare case-insensitively and space-normalized."""
    if not term:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", term)).strip().casefold()


def device_code(code: str | None) -> str | None:
    """FDA device product codes are three letters, upper-case."""
    if not code:
        return None
    code = code.strip().upper()
    return code or None


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}


def parse_partial_date(value: str | None) -> PartialDate | None:
    """Parse YYYY, YYYYMM, YYYYMMDD (FAERS/openFDA), MM/DD/YYYY (MAUDE), DD-MON-YY, ISO.

    Keeps the precision so a month bucket is never invented from a year-only date.
    Returns None for empty values; raises ValueError for malformed ones.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        if len(text) == 4:
            return PartialDate(dt.date(int(text), 1, 1), "Y")
        if len(text) == 6:
            return PartialDate(dt.date(int(text[:4]), int(text[4:6]), 1), "M")
        if len(text) == 8:
            return PartialDate(dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])), "D")
        raise ValueError(f"unrecognized date {value!r}")
    if "/" in text:  # MM/DD/YYYY
        month, day, year = text.split("/")
        return PartialDate(dt.date(int(year), int(month), int(day)), "D")
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":  # ISO date or datetime
        return PartialDate(dt.date.fromisoformat(text[:10]), "D")
    if "-" in text:  # DD-MON-YY or DD-MON-YYYY
        day, mon, year = text.split("-")
        y = int(year)
        if len(year) == 2:
            y += 2000 if y < 70 else 1900
        return PartialDate(dt.date(y, _MONTHS[mon[:3].upper()], int(day)), "D")
    raise ValueError(f"unrecognized date {value!r}")


# FAERS/openFDA age units. openFDA patientonsetageunit: 800 decade, 801 year, 802 month,
# 803 week, 804 day, 805 hour. FAERS ASCII age_cod: DEC YR MON WK DY HR.
_AGE_FACTORS = {
    "800": 10.0,
    "DEC": 10.0,
    "801": 1.0,
    "YR": 1.0,
    "YRS": 1.0,
    "802": 1 / 12,
    "MON": 1 / 12,
    "803": 7 / 365.25,
    "WK": 7 / 365.25,
    "804": 1 / 365.25,
    "DY": 1 / 365.25,
    "805": 1 / 8766,
    "HR": 1 / 8766,
}


def age_in_years(value: str | float | None, unit: str | None) -> float | None:
    """Convert an age with its unit to years; None if missing or implausible (>130 y)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    factor = _AGE_FACTORS.get((unit or "YR").strip().upper())
    if factor is None:
        return None
    years = number * factor
    if years < 0 or years > 130:
        return None
    return round(years, 3)


def sex_code(value: str | int | None) -> str | None:
    """openFDA patientsex 1=male 2=female 0=unknown; FAERS sex M/F/UNK; MAUDE Male/Female."""
    if value is None:
        return None
    text = str(value).strip().upper()
    if text in {"1", "M", "MALE"}:
        return "M"
    if text in {"2", "F", "FEMALE"}:
        return "F"
    return None
