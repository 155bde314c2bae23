"""`cerflow ingest ...`: fetch or read source data into the store.

Thin wrappers over `cerflow.ingest`: each parses its options, opens the store, runs the
import under a progress bar and prints the summary. What is stored, in which transaction,
and what a failure leaves behind are the import modules' business (see their docstrings);
a failed import prints what was stored before it, then its error, and exits 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from cerflow.cli._common import (
    LOAD_FIGURES,
    SinceOption,
    UntilOption,
    err,
    fail,
    figures_table,
    load_figures,
    one_product,
    out,
    progress_bar,
    review_window,
    rows_table,
)
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.errors import CerflowError
from cerflow.etl.load_common import LoadStats
from cerflow.ingest import IngestError, IngestInputError
from cerflow.ingest import eudamed as eudamed_import
from cerflow.ingest import faers as faers_import
from cerflow.ingest import labels as label_import
from cerflow.ingest import maude as maude_import
from cerflow.ingest import openfda as openfda_import
from cerflow.ingest import sample as sample_import
from cerflow.store import migrate

ingest_app = typer.Typer(help="Import public safety data into the store.", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[Engine]:
    """The configured store, migrated to the current schema, disposed afterwards."""
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()


# -- openFDA ------------------------------------------------------------------------------
def _openfda_summary(rows: list[openfda_import.DatasetResult]) -> Table:
    return rows_table(
        "openFDA import",
        "dataset",
        ("matched",),
        ((r.name, (r.matched,), r.load) for r in rows),
    )


@ingest_app.command("openfda")
def ingest_openfda(
    drug: Annotated[
        str | None, typer.Option("--drug", help="Drug name or ingredient, e.g. 'metformin'.")
    ] = None,
    device_code: Annotated[
        list[str] | None,
        typer.Option("--device-code", help="FDA device product code, e.g. DQA (repeatable)."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    recalls: Annotated[
        bool,
        typer.Option("--recalls/--no-recalls", help="Also import recalls and enforcement reports."),
    ] = True,
    skip_malformed: Annotated[
        bool,
        typer.Option(
            "--skip-malformed",
            help="Count malformed records as rejected instead of stopping the import.",
        ),
    ] = False,
) -> None:
    """Import adverse events (and recalls) for one drug or device product codes from openFDA."""
    codes = one_product(drug, device_code)
    since_d, until_d = review_window(since, until)
    try:
        plan = openfda_import.datasets(drug, codes, since_d, until_d, recalls)
    except IngestInputError as exc:
        raise fail(exc, 2) from None
    with _store() as engine:
        try:
            with progress_bar() as progress:
                done = openfda_import.ingest_openfda(
                    engine,
                    plan,
                    settings=get_settings(),
                    progress=progress,
                    skip_malformed=skip_malformed,
                )
        except IngestError as exc:
            if exc.done:
                out().print(_openfda_summary(exc.done))
            raise fail(exc) from None
        out().print(_openfda_summary(done))


@ingest_app.command("openfda-background")
def ingest_openfda_background(
    drug: Annotated[str, typer.Option("--drug", help="Drug name or ingredient.")],
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Count a drug's whole-FAERS 2x2 margins at openFDA and cache them (issue 11, 1b).

    N, the drug's reports, each of its event terms and each term's total for the window;
    `cerflow report --background openfda` then reads them from the cache (Redis when
    CERFLOW_REDIS_URL is set; otherwise the cache lives only in this process).
    """
    from cerflow.ingest.openfda_background import fetch_background

    since_d, until_d = review_window(since, until)
    if since_d is None or until_d is None:
        raise fail("--since and --until are both needed: openFDA counts one date window", 2)
    try:
        counts = fetch_background(get_settings(), drug=drug, since=since_d, until=until_d)
    except ValueError as exc:
        raise fail(exc, 2) from None
    except CerflowError as exc:
        raise fail(exc) from None
    console = out()
    console.print(
        f"openFDA background for {drug!r}, reports received {since_d} to {until_d}"
        f"{' (from the cache)' if counts.from_cache else ''}: N = {counts.n_reports:,}, "
        f"the drug's reports = {counts.product_reports:,}, "
        f"event terms = {len(counts.pair_counts):,} (spellings as openFDA counts them)"
    )
    for q in counts.queries:
        console.print(f"  {q.purpose}: {q.url} ({q.retrieved_at:%Y-%m-%d %H:%M} UTC)")
    for note in counts.notes:
        console.print(f"  note: {note}")


# -- FAERS --------------------------------------------------------------------------------
def _faers_summary(rows: list[faers_import.QuarterResult]) -> Table:
    return rows_table(
        "FAERS import",
        "file",
        ("DEMO rows", "superseded", "deleted"),
        (
            (
                r.name,
                (
                    r.source["demo_rows"],
                    r.source["superseded"] + r.source["duplicate_primaryid"],
                    r.source["deleted"] + r.load.deleted,
                ),
                r.load,
            )
            for r in rows
        ),
    )


@ingest_app.command("faers")
def ingest_faers(
    paths: Annotated[
        list[Path],
        typer.Argument(help="FAERS/AERS quarterly ASCII zips (faers_ascii_2017q2.zip ...)."),
    ],
) -> None:
    """Import FAERS quarterly ASCII zips (current and legacy AERS layouts)."""
    for path in paths:
        if not path.is_file():
            raise fail(f"{path}: no such file", 2)
    with _store() as engine:
        try:
            with progress_bar() as progress:
                done = faers_import.ingest_quarters(engine, paths, progress=progress)
        except IngestError as exc:
            if exc.done:
                out().print(_faers_summary(exc.done))
            raise fail(exc) from None
        out().print(_faers_summary(done))


# -- MAUDE --------------------------------------------------------------------------------
def maude_summary(load: LoadStats, source: dict[str, Any]) -> Table:
    """One row per figure: the reader's (files, rows, joins) then the loader's."""
    files = source.get("files", {})
    figures: list[tuple[str, object]] = [
        ("files", len(files)),
        ("rows", sum(f.get("rows", 0) for f in files.values() if isinstance(f, dict))),
        ("reports joined", source.get("documents", 0)),
        ("duplicate rows", source.get("duplicate_reports", 0) + source.get("child_duplicates", 0)),
        ("orphan rows (no mdrfoi row)", source.get("orphan_rows", 0)),
        *load_figures(load),
    ]
    return figures_table("MAUDE import", "", figures)


@ingest_app.command("maude")
def ingest_maude(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="MAUDE files (mdrfoi, foidev/device, patient, foitext, foidevproblem...), "
            "directories holding them, or zips.",
            show_default=False,
        ),
    ],
    tmp_dir: Annotated[
        Path | None,
        typer.Option(
            "--tmp-dir", help="Where the on-disk join goes (about the size of the input)."
        ),
    ] = None,
) -> None:
    """Import FDA MAUDE bulk files (device adverse events) into the store."""
    with _store() as engine:
        try:
            with progress_bar() as progress:
                load, source = maude_import.ingest_maude(
                    engine, paths, progress=progress, tmp_dir=tmp_dir
                )
        except CerflowError as exc:
            raise fail(exc) from None
        out().print(maude_summary(load, source))
        for reason, n in sorted(load.reject_reasons.items()):
            err.print(f"rejected {n}: {reason}")


# -- EUDAMED ------------------------------------------------------------------------------
def _eudamed_summary(result: eudamed_import.EudamedImport) -> Table:
    s, ld = result.search, result.load
    figures: list[tuple[str, object]] = [
        ("pages fetched", s.pages),
        ("records received", s.received),
        ("dropped: did not match the query", s.dropped_mismatch),
        ("details fetched", result.details_fetched),
        *load_figures(ld),
        *((f"  rejected: {reason}", n) for reason, n in sorted(ld.reject_reasons.items())),
    ]
    return figures_table(
        f"EUDAMED import ({result.source}: {result.query.describe()})",
        "step",
        figures,
        caption=f"snapshot {ld.snapshot_id}",
    )


@ingest_app.command("eudamed")
def ingest_eudamed(
    udi_di: Annotated[
        str | None, typer.Option("--udi-di", help="UDI-DI (primary DI) of the device.")
    ] = None,
    basic_udi_di: Annotated[
        str | None, typer.Option("--basic-udi-di", help="Basic UDI-DI of the device family.")
    ] = None,
    trade_name: Annotated[
        str | None,
        typer.Option(
            "--trade-name", help="Trade name (substring on the public API, exact on --datalake)."
        ),
    ] = None,
    srn: Annotated[
        str | None, typer.Option("--srn", help="Manufacturer SRN, e.g. AT-MF-000000252.")
    ] = None,
    datalake: Annotated[
        bool,
        typer.Option("--datalake", help="Use the official data-lake API instead of the website's."),
    ] = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details", help="Also fetch each device's detail (model/reference); 1 request each."
        ),
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, help="Public API page size (at most 300).")
    ] = 300,
) -> None:
    """Import EUDAMED device identification (UDI-DI, Basic UDI-DI, class, manufacturer)."""
    try:
        query = eudamed_import.device_query(
            udi_di=udi_di,
            basic_udi_di=basic_udi_di,
            trade_name=trade_name,
            srn=srn,
            datalake=datalake,
            details=details,
        )
    except IngestInputError as exc:
        raise fail(exc, 2) from None
    settings = get_settings()
    with _store() as engine:
        try:
            with progress_bar() as progress:
                result = eudamed_import.ingest_devices(
                    engine,
                    query,
                    settings=settings,
                    datalake=datalake,
                    details=details,
                    page_size=page_size,
                    progress=progress,
                )
        except CerflowError as exc:
            raise fail(exc) from None
        out().print(_eudamed_summary(result))


# -- the bundled sample -------------------------------------------------------------------
def _sample_summary(result: dict[str, Any]) -> Table:
    table = Table(title=f"Sample import - {result['statement']}")
    table.add_column("file")
    for column in LOAD_FIGURES:
        table.add_column(column, justify="right")
    steps = [*result["faers"], {**result["maude"], "file": "maude/ (bulk files)"}]
    steps += [*result["recalls"], *result["eudamed"]]
    steps += result.get("labels", [])  # the real drug label (not counted in the totals)
    for step in steps:
        table.add_row(step["file"], *(str(step[k]) for k in LOAD_FIGURES))
    table.add_row("total", *(str(result["totals"][k]) for k in LOAD_FIGURES))
    return table


@ingest_app.command("sample")
def ingest_sample_command(
    sample_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="A sample folder with manifest.json (default: the one bundled with cerflow).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Import the bundled SYNTHETIC sample (FAERS, MAUDE, recalls, EUDAMED); no network."""
    with _store() as engine:
        try:
            with progress_bar(spinner=True) as progress:
                result = sample_import.ingest_sample(
                    engine, progress=progress, sample_dir=sample_dir
                )
        except CerflowError as exc:
            raise fail(exc) from None
        out().print(_sample_summary(result))
        err.print(f"[bold yellow]{result['statement']}[/bold yellow]")


# -- drug labels --------------------------------------------------------------------------
@ingest_app.command("label")
def ingest_label_command(
    drug: Annotated[
        str | None,
        typer.Option("--drug", help="Drug name or ingredient, e.g. 'atorvastatin'."),
    ] = None,
    set_id: Annotated[
        str | None,
        typer.Option("--set-id", help="A label's FDA set id, to pick one label exactly."),
    ] = None,
) -> None:
    """Import a drug's label from openFDA (/drug/label.json) for the labelled-status check."""
    with _store() as engine:
        try:
            with progress_bar(spinner=True) as progress:
                result = label_import.ingest_label(
                    engine,
                    settings=get_settings(),
                    drug=drug,
                    set_id=set_id,
                    progress=progress,
                )
        except IngestInputError as exc:
            raise fail(exc, 2) from None
        except CerflowError as exc:
            raise fail(exc) from None
        lb = result.label
        figures: list[tuple[str, object]] = [
            ("labels matched", result.matched),
            ("labels read (newest first)", result.fetched),
            ("labels of the drug with a safety section", result.candidates),
            ("chosen: set id", lb.set_id),
            ("chosen: version", lb.version if lb.version is not None else "-"),
            ("chosen: effective date", lb.effective_date or "-"),
            ("chosen: sections", ", ".join(lb.sections) or "-"),
            *load_figures(result.load),
        ]
        out().print(
            figures_table(
                f"Drug label import ({lb.title})",
                "",
                figures,
                caption=f"snapshot {result.load.snapshot_id}",
            )
        )


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
