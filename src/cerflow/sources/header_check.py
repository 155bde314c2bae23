"""Say what is really wrong with a bulk file whose header does not parse.

A FAERS table saved with commas, or a MAUDE file re-saved by a spreadsheet as UTF-16,
used to fail with "required column `isr` is missing": true, but it sends the user looking
for a column when the file's delimiter or encoding is what to fix. These checks run on the
raw header line before the columns are looked up.
"""

from __future__ import annotations

_OTHER_DELIMITERS = {",": "a comma", "\t": "a tab", ";": "a semicolon", "|": "'|'", "$": "'$'"}


def header_problem(raw: bytes, delimiter: str) -> str | None:
    """Why `raw` (a header line) is not a `delimiter`-separated header, or None if it may be."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        return (
            "the file is UTF-16 encoded (NUL bytes between the characters); these files are "
            "plain ASCII/Latin-1 text: re-download it, or save it as plain text, not 'Unicode text'"
        )
    text = raw.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    if delimiter in text:
        return None
    for other, name in _OTHER_DELIMITERS.items():
        if other != delimiter and text.count(other) >= 2:
            return (
                f"the header is delimited by {name}, not {_OTHER_DELIMITERS[delimiter]}: "
                f"this file was re-saved with the wrong delimiter; use the original file, "
                f"whose columns are separated by {_OTHER_DELIMITERS[delimiter]}"
            )
    return None
