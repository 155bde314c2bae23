"""The user's licensed MedDRA ASCII files, read into plain frames for the roll-up.

    tables = read_meddra(Path("/srv/meddra/MedAscii"))    # settings.meddra_dir
    tables.terms      # (term, pt_code): every PT and LLT name, case-folded like stored events
    tables.primary    # (pt_code, pt_name, soc_code, soc_name): the PT's primary SOC
    tables.pt_hlt     # (pt_code, hlt_code, hlt_name): every HLT a PT sits under

MedDRA is licensed (MSSO), so cerflow never ships it: the user points `meddra_dir` at the
`MedAscii` folder of their release. The files are MedDRA's ASCII distribution layout, one
record a line, fields separated by ``$`` (with a trailing ``$``):

    llt.asc       llt_code$llt_name$pt_code$...$llt_currency$...
    pt.asc        pt_code$pt_name$null$pt_soc_code$...
    hlt.asc       hlt_code$hlt_name$...
    hlt_pt.asc    hlt_code$pt_code$
    hlgt_hlt.asc  hlgt_code$hlt_code$
    soc_hlgt.asc  soc_code$hlgt_code$
    mdhier.asc    pt_code$hlt_code$hlgt_code$soc_code$pt_name$hlt_name$hlgt_name$soc_name$
                  soc_abbrev$null$pt_soc_code$primary_soc_fg$
    meddra_release.asc (optional)  version$language$...

A missing file or a malformed line raises `MeddraFormatError` naming the file, the line
and the field, and how to fix it; nothing is cached or stored from a bad set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cerflow.errors import CerflowError
from cerflow.store.keys import term_key

REQUIRED = (
    "llt.asc",
    "pt.asc",
    "hlt.asc",
    "hlt_pt.asc",
    "hlgt_hlt.asc",
    "soc_hlgt.asc",
    "mdhier.asc",
)
# file -> (minimum fields, names of the fields used, for error messages)
_LAYOUT: dict[str, tuple[str, ...]] = {
    "llt.asc": ("llt_code", "llt_name", "pt_code"),
    "pt.asc": ("pt_code", "pt_name", "null_field", "pt_soc_code"),
    "hlt.asc": ("hlt_code", "hlt_name"),
    "hlt_pt.asc": ("hlt_code", "pt_code"),
    "hlgt_hlt.asc": ("hlgt_code", "hlt_code"),
    "soc_hlgt.asc": ("soc_code", "hlgt_code"),
    "mdhier.asc": (
        "pt_code",
        "hlt_code",
        "hlgt_code",
        "soc_code",
        "pt_name",
        "hlt_name",
        "hlgt_name",
        "soc_name",
        "soc_abbrev",
        "null_field",
        "pt_soc_code",
        "primary_soc_fg",
    ),
}
_CODES = {"llt_code", "pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_soc_code"}
_FIX = (
    "point CERFLOW_MEDDRA_DIR at the MedAscii folder of a complete MedDRA release "
    "(the files as MSSO distributes them), or unset it to report without the roll-up"
)


class MeddraFormatError(CerflowError, ValueError):
    """The MedDRA files are missing or not in MedDRA's ASCII layout."""

    status_code = 422


@dataclass(frozen=True, slots=True)
class MeddraTables:
    """What the roll-up needs from a MedDRA release, as frames (see the module doc)."""

    directory: str
    version: str | None
    terms: pl.DataFrame
    primary: pl.DataFrame
    pt_hlt: pl.DataFrame
    counts: dict[str, int]  # records per file


def _find(directory: Path, name: str) -> Path | None:
    exact = directory / name
    if exact.is_file():
        return exact
    for p in directory.iterdir():  # MedDRA's own names are lower case; accept upper too
        if p.is_file() and p.name.lower() == name:
            return p
    return None


def _rows(path: Path, fields: tuple[str, ...]) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    out: list[list[str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("$")
        if len(parts) < len(fields):
            raise MeddraFormatError(
                f"{path.name} line {n}: {len(parts)} $-separated field(s), expected at least "
                f"{len(fields)} ({'$'.join(fields)}$); {_FIX}"
            )
        for i, name in enumerate(fields):
            value = parts[i].strip()
            if name in _CODES and not value.isdigit():
                raise MeddraFormatError(
                    f"{path.name} line {n}, field {name}: {value[:20]!r} is not a MedDRA "
                    f"code (digits); {_FIX}"
                )
            if name.endswith("_name") and not value:
                raise MeddraFormatError(f"{path.name} line {n}, field {name}: empty; {_FIX}")
        out.append([p.strip() for p in parts[: len(fields)]])
    if not out:
        raise MeddraFormatError(f"{path.name}: no records; {_FIX}")
    return out


def _version(directory: Path) -> str | None:
    path = _find(directory, "meddra_release.asc")
    if path is None:
        return None
    first = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if not first:
        return None
    parts = [p.strip() for p in first[0].split("$") if p.strip()]
    return " ".join(parts[:2]) if parts else None


def read_meddra(directory: Path | str) -> MeddraTables:
    """Read and check one MedDRA release's ASCII files (see the module doc)."""
    root = Path(directory)
    if not root.is_dir():
        raise MeddraFormatError(f"MedDRA folder {root} does not exist; {_FIX}")
    paths: dict[str, Path] = {}
    missing = []
    for name in REQUIRED:
        found = _find(root, name)
        if found is None:
            missing.append(name)
        else:
            paths[name] = found
    if missing:
        raise MeddraFormatError(f"MedDRA folder {root} lacks {', '.join(missing)}; {_FIX}")
    rows = {name: _rows(paths[name], _LAYOUT[name]) for name in REQUIRED}

    pt_names = {int(r[0]): r[1] for r in rows["pt.asc"]}
    pt_soc = {int(r[0]): int(r[3]) for r in rows["pt.asc"]}
    terms: dict[str, int] = {}
    for r in rows["pt.asc"]:
        terms[term_key(r[1])] = int(r[0])
    for n, r in enumerate(rows["llt.asc"], start=1):
        pt = int(r[2])
        if pt not in pt_names:
            raise MeddraFormatError(
                f"llt.asc line {n}, field pt_code: PT {pt} is not in pt.asc; {_FIX}"
            )
        terms.setdefault(term_key(r[1]), pt)  # a PT name wins over an LLT of the same text
    hlt_names = {int(r[0]): r[1] for r in rows["hlt.asc"]}
    pt_hlt = []
    for n, r in enumerate(rows["hlt_pt.asc"], start=1):
        hlt, pt = int(r[0]), int(r[1])
        if hlt not in hlt_names:
            raise MeddraFormatError(
                f"hlt_pt.asc line {n}, field hlt_code: HLT {hlt} is not in hlt.asc; {_FIX}"
            )
        pt_hlt.append((pt, hlt, hlt_names[hlt]))
    soc_names: dict[int, str] = {}
    primary: dict[int, int] = {}
    for r in rows["mdhier.asc"]:
        pt, soc = int(r[0]), int(r[3])
        soc_names[soc] = r[7]
        if r[11].upper() == "Y":
            primary[pt] = soc
    for pt, soc in pt_soc.items():  # pt.asc names the primary SOC too; mdhier wins
        primary.setdefault(pt, soc)
    prim_rows = [
        (pt, pt_names[pt], soc, soc_names.get(soc, f"SOC {soc}"))
        for pt, soc in sorted(primary.items())
        if pt in pt_names
    ]
    return MeddraTables(
        directory=str(root),
        version=_version(root),
        terms=pl.DataFrame(
            {"term": list(terms), "pt_code": list(terms.values())},
            schema={"term": pl.Utf8(), "pt_code": pl.Int64()},
        ),
        primary=pl.DataFrame(
            prim_rows,
            schema={
                "pt_code": pl.Int64(),
                "pt_name": pl.Utf8(),
                "soc_code": pl.Int64(),
                "soc_name": pl.Utf8(),
            },
            orient="row",
        ),
        pt_hlt=pl.DataFrame(
            sorted(set(pt_hlt)),
            schema={"pt_code": pl.Int64(), "hlt_code": pl.Int64(), "hlt_name": pl.Utf8()},
            orient="row",
        ),
        counts={name: len(rows[name]) for name in REQUIRED},
    )
