"""Product and term keys: how a drug name, a device code or an event term is named in the store.

Why the store owns them: the ETL writes these keys into `report_products.product_key`,
`product_code` and `report_events.term`, and every reader (the report, the API, the CLI)
must normalize what a user types the same way to find those rows again. A reader should
not import the ETL for that, so the rules live beside the tables they key.

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

import re
import unicodedata
from functools import lru_cache

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


# --- EUDAMED keys (issue 12 item 6: `cerflow report --udi-di/--srn`) ---------------------

# A UDI-DI of any issuing entity (GS1 GTIN: 8-14 digits; HIBCC: "+..."; ICCBBA and IFA:
# letters, digits and a few separators). Upper-cased; at most 120 characters (EUDAMED's).
# HIBCC Basic UDI-DIs start with "++" (e.g. ++E494ARTEX7L, a real EUDAMED record).
_UDI_DI = re.compile(r"^[+]{0,2}[A-Z0-9][A-Z0-9.\-/$%*+]{0,119}$")
# A single registration number: country, actor role, 9 digits (e.g. DE-MF-000001234).
_SRN = re.compile(r"^[A-Z]{2}-(MF|AR|PR|IM)-\d{9}$")


def udi_di_key(value: str) -> str:
    """A UDI-DI or Basic UDI-DI as EUDAMED stores it; ValueError says what is wrong."""
    text = value.strip().upper()
    if not _UDI_DI.match(text):
        raise ValueError(
            f"UDI-DI {value!r} is not a device identifier: use the UDI-DI or Basic UDI-DI "
            "as printed in EUDAMED (e.g. 04046964812345: digits, letters, '+', '-', '.', "
            "'/', at most 120 characters)"
        )
    return text


def srn_key(value: str) -> str:
    """A manufacturer's single registration number; ValueError says what is wrong."""
    text = value.strip().upper()
    if not _SRN.match(text):
        raise ValueError(
            f"SRN {value!r} is not a single registration number: use the form "
            "CC-MF-000000000 (country, MF/AR/PR/IM, 9 digits), e.g. DE-MF-000001234"
        )
    return text
