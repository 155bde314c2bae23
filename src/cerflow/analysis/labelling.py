"""Labelled status: is an event term described in the product's label, and where?

    find_in_label(term, sections) -> LabelMatch | None
    is_lack_of_efficacy(term) -> bool

Pure text matching, no I/O: the caller passes the label's safety sections as openFDA
names them (`boxed_warning`, `warnings_and_cautions`, `warnings`, `precautions`,
`adverse_reactions`, each a list of section texts).

The rule, stated in every report that uses it (`MATCH_RULE`):
- Case-insensitive match of the whole term as consecutive words of one sentence of the
  label ("Myalgia" matches "... myalgia ..." but not "myalgias" unless the plural rule
  below applies; "Muscle spasms" needs "muscle spasm(s)" in that order).
- Each word is reduced to a simple common form before comparing, on both sides: a plural
  to its singular ("infections" -> "infection", "myopathies" -> "myopathy", "rashes" ->
  "rash"), and British to American spelling ("anaemia" -> "anemia", "haemorrhage" ->
  "hemorrhage", "oedema" -> "edema", "oesophagitis" -> "esophagitis", "diarrhoea" ->
  "diarrhea", "dyspnoea" -> "dyspnea", "paraesthesia" -> "paresthesia", "tumour" ->
  "tumor", "...isation" -> "...ization").
- A numbered section heading in capitals that runs into the first sentence ("5 WARNINGS
  AND PRECAUTIONS Skeletal muscle effects ...") is split off, so it is not quoted.
- Sections are searched in the order of `SECTIONS` (boxed warning first); the first
  sentence found is quoted verbatim (shortened around the term, with "...", when longer
  than `QUOTE_MAX` characters).
- No synonyms and no MedDRA hierarchy: a term the label words differently ("Blood creatine
  phosphokinase increased" against "CK elevation") is "not found in label", which means
  only that the words were not found; a medical reviewer decides whether it is labelled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Searched in this order; the first section holding the term is the one quoted.
SECTIONS = (
    "boxed_warning",
    "warnings_and_cautions",
    "warnings",
    "precautions",
    "adverse_reactions",
)
QUOTE_MAX = 200

MATCH_RULE = (
    "An event term is 'labelled' when all its words appear, in order and as whole words, in "
    "one sentence of the label's boxed warning, warnings and precautions, warnings, "
    "precautions or adverse reactions sections (case-insensitive; plurals and British "
    "spellings such as 'anaemia' or 'oedema' count as the same word). No synonyms or MedDRA "
    "hierarchy are used, so 'not found in label' means only that the words were not found."
)

# MedDRA preferred terms that express lack of efficacy rather than an adverse reaction
# (reported as their own finding, ICH E2C(R2) 16.4 / GVP VI).
LACK_OF_EFFICACY_TERMS = frozenset(
    {
        "drug ineffective",
        "drug ineffective for unapproved indication",
        "therapeutic product ineffective",
        "therapeutic product ineffective for unapproved indication",
        "therapeutic response decreased",
        "drug effect decreased",
        "therapeutic product effect decreased",
        "drug effect incomplete",
        "therapeutic product effect incomplete",
        "therapeutic response shortened",
        "treatment failure",
        "lack of efficacy",
        "device ineffective",
    }
)

_WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? or ; followed by a space and a capital letter, a digit or "[",
# or at a bullet; "(5.1)", "e.g." and "i.e." do not end one.
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<=[.!?;])\s+(?=[A-Z0-9\[•])|\s*•\s*")
_BRITISH = (
    (re.compile(r"^(.*)haem"), r"\1hem"),
    (re.compile(r"^(.+)aem"), r"\1em"),
    (re.compile(r"^oedem"), "edem"),
    (re.compile(r"^oesophag"), "esophag"),
    (re.compile(r"oea$"), "ea"),
    (re.compile(r"aesth"), "esth"),
    (re.compile(r"^foet"), "fet"),
    (re.compile(r"^(.{3,})our$"), r"\1or"),
    (re.compile(r"isation$"), "ization"),
    (re.compile(r"yse$"), "yze"),
)


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """Where a term was found: the section's openFDA name and the sentence, verbatim."""

    section: str
    quote: str


def common_form(word: str) -> str:
    """A word reduced for comparison: American spelling, singular (see the module rule)."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith(("sses", "xes", "ches", "shes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for pattern, repl in _BRITISH:
        w = pattern.sub(repl, w)
    return w


def words(text: str) -> list[str]:
    return [common_form(w) for w in _WORD.findall(text.lower())]


_HEADING = re.compile(r"^(\d+(?:\.\d+)*\s+[A-Z0-9][A-Z0-9 ,&/()-]*[A-Z)])\s+(?=[A-Z][a-z])")


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = (piece or "").strip()
        if not piece:
            continue
        heading = _HEADING.match(piece)
        if heading:
            out.append(heading.group(1))
            piece = piece[heading.end() :].strip()
        if piece:
            out.append(piece)
    return out


def _contains(haystack: list[str], needle: list[str]) -> int:
    """Index of `needle` as consecutive items of `haystack`, or -1."""
    n = len(needle)
    for i in range(len(haystack) - n + 1):
        if haystack[i : i + n] == needle:
            return i
    return -1


def _shorten(sentence: str, term_words: list[str]) -> str:
    if len(sentence) <= QUOTE_MAX:
        return sentence
    # Find the character position of the first term word in the sentence.
    pos = 0
    for m in _WORD.finditer(sentence.lower()):
        if common_form(m.group(0)) == term_words[0]:
            pos = m.start()
            break
    half = QUOTE_MAX // 2
    start = max(0, pos - half)
    end = min(len(sentence), start + QUOTE_MAX)
    start = max(0, end - QUOTE_MAX)
    # Cut at word boundaries.
    if start > 0:
        space = sentence.find(" ", start)
        start = space + 1 if 0 <= space < pos else start
    if end < len(sentence):
        space = sentence.rfind(" ", pos, end)
        end = space if space > pos else end
    text = sentence[start:end].strip()
    return ("..." if start > 0 else "") + text + ("..." if end < len(sentence) else "")


class LabelIndex:
    """A label's safety sections split into sentences and words once, for many terms."""

    def __init__(self, sections: Mapping[str, Sequence[str]]) -> None:
        self._sentences: list[tuple[str, str, list[str]]] = [
            (name, sentence, words(sentence))
            for name in SECTIONS
            for text in sections.get(name, ())
            for sentence in sentences(text)
        ]

    @property
    def empty(self) -> bool:
        return not self._sentences

    def find(self, term: str) -> LabelMatch | None:
        """The first sentence holding `term` (sections in `SECTIONS` order), or None."""
        wanted = words(term)
        if not wanted:
            return None
        for name, sentence, have in self._sentences:
            if _contains(have, wanted) >= 0:
                return LabelMatch(section=name, quote=_shorten(sentence, wanted))
        return None


def find_in_label(term: str, sections: Mapping[str, Sequence[str]]) -> LabelMatch | None:
    """The first sentence of the label's safety sections holding `term` (see the rule)."""
    return LabelIndex(sections).find(term)


def is_lack_of_efficacy(term: str) -> bool:
    """A lack-of-efficacy preferred term ("Drug ineffective"...), not an adverse reaction."""
    return " ".join(term.lower().split()) in LACK_OF_EFFICACY_TERMS
