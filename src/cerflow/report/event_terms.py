"""One printed casing for event terms: MedDRA's sentence case.

Why it is shaped like this (issue 12 item 7):
- FAERS and openFDA carry MedDRA preferred terms in whichever casing the reporter's
  system used: "COMPLETED SUICIDE", "HYPERTENSION" beside "Dyspepsia" and "Osteonecrosis
  of jaw". Printing the most frequent raw spelling mixed the two styles in one table.
- MedDRA's own spelling is sentence case ("Completed suicide", "Blood creatine
  phosphokinase increased") with acronyms and proper names kept ("HIV test positive",
  "Stevens-Johnson syndrome", "International normalised ratio increased").
- A spelling that already has mixed case carries that information (it came from a source
  that kept MedDRA's casing), so it wins. An all-capitals or all-lower-case spelling has
  lost it: it is rewritten in sentence case, with a list of acronyms and eponyms restored.
- Device problem names from MAUDE ("Insufficient Flow or Under Infusion") are FDA's terms,
  in FDA's title case; they reach here in mixed case and are printed as FDA spells them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Tokens MedDRA writes in capitals (checked case-insensitively, whole token).
_ACRONYMS = frozenset(
    {
        "ACE", "ADHD", "AIDS", "ALT", "AST", "ALP", "AV", "BK", "BMI", "CD4", "CD8", "CNS",
        "COPD", "COVID-19", "CSF", "CT", "DNA", "DRESS", "DVT", "EBV", "ECG", "EEG", "GGT",
        "HBV", "HCV", "HDL", "HELLP", "HIV", "HLA", "HPV", "HSV", "ICU",
        "INR", "JC", "LDL", "MRI", "MRSA", "NK", "PCR", "PML", "PSA", "QRS",
        "QT", "RNA", "SARS-COV-2", "SIADH", "SLE", "T3", "T4", "TSH", "VZV", "WBC",
    }
)  # fmt: skip
# Exact spellings for tokens that are neither lower case nor capitals.
_SPECIAL = {
    "iga": "IgA",
    "ige": "IgE",
    "igg": "IgG",
    "igm": "IgM",
    "ph": "pH",
    "sars-cov-2": "SARS-CoV-2",
}
# Eponyms and other proper names that keep their capital inside a term.
_PROPER = frozenset(
    {
        "addison", "alzheimer", "barre", "bell", "brugada", "crohn", "cushing", "creutzfeldt",
        "epstein-barr", "fanconi", "guillain", "guillain-barre", "hashimoto", "hodgkin",
        "jakob", "kaposi", "kawasaki", "lyell", "parkinson", "raynaud", "reye", "sjogren",
        "stevens-johnson", "takotsubo", "tourette", "wegener", "wernicke", "wilson",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*|[^A-Za-z0-9]+")


def _has_case_information(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return any(c.isupper() for c in letters) and any(c.islower() for c in letters)


def _token(token: str, first: bool) -> str:
    if not token[0].isalnum():
        return token
    upper = token.upper()
    lower = token.lower()
    if upper in _ACRONYMS:
        return upper if upper != "SARS-COV-2" else "SARS-CoV-2"
    if lower in _SPECIAL:
        return _SPECIAL[lower]
    if lower in _PROPER:
        return "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))
    if first:
        return lower[:1].upper() + lower[1:]
    return lower


def sentence_case(term: str) -> str:
    """`term` in MedDRA's sentence case: first letter capital, acronyms and eponyms kept.

    >>> sentence_case("COMPLETED SUICIDE")
    'Completed suicide'
    >>> sentence_case("hiv test positive")
    'HIV test positive'
    """
    text = " ".join(term.split())
    out: list[str] = []
    first = True
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        out.append(_token(token, first))
        if token[0].isalnum():
            first = False
    return "".join(out)


def display_term(spellings: Iterable[tuple[str, int]]) -> str:
    """The printed form of one event term from its raw spellings and their counts.

    The most frequent spelling that has mixed case wins as it is (ties: alphabetical);
    when every spelling is all capitals or all lower case, the most frequent one is put
    in sentence case. An empty list gives "".
    """
    ranked = sorted(
        ((" ".join(s.split()), n) for s, n in spellings if s and s.strip()),
        key=lambda sn: (-sn[1], sn[0]),
    )
    if not ranked:
        return ""
    for spelling, _n in ranked:
        if _has_case_information(spelling):
            return spelling
    return sentence_case(ranked[0][0])


__all__ = ["display_term", "sentence_case"]
