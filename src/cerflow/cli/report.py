"""`cerflow report` (one CER from stored or freshly fetched data) and `cerflow demo`.

`cerflow report --drug NAME | --device-code CODE ... [--offline]`: without --offline the
product's openFDA data are imported first (the same path as `cerflow ingest openfda`), so
the report reflects today's data; with it only the store is read. `cerflow demo` builds a
fresh SQLite store from the bundled SYNTHETIC sample and writes one drug and one device
report from it, offline. The demo also writes the CER inputs template and a filled example
(`<out>/examples/`, the same files as the repository's `examples/`) and renders the device
report with the filled example: a "Clinical Evaluation Report" with its sign-off chapter,
beside the drug report, which has no inputs and keeps the honest data-summary title.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from cerflow.cer_inputs.schemas import CerInputs, CerInputsError, load_inputs
from cerflow.cer_inputs.service import check_product
from cerflow.cli._common import (
    SinceOption,
    UntilOption,
    err,
    fail,
    one_product,
    out,
    progress_bar,
    review_window,
)
from cerflow.cli._common import out as _out_console
from cerflow.cli.inputs import write_examples
from cerflow.cli.versions import (
    approve_demo,
    register_report_commands,
    stdout,
    write_demo_diff,
)
from cerflow.cli.versions import next_version as next_version_of
from cerflow.cli.versions import record as record_version
from cerflow.cli.versions import register as register_audit
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.errors import CerflowError, NotFoundError
from cerflow.ingest import IngestInputError
from cerflow.ingest.labels import refresh_label
from cerflow.ingest.openfda import refresh_product
from cerflow.ingest.openfda_background import counts_provider
from cerflow.ingest.sample import ingest_sample
from cerflow.narrative.changes import VersionSnapshot
from cerflow.report.background import check_background
from cerflow.report.pipeline import STAGES, ReportResult, generate_report, parse_formats
from cerflow.report.signal_status import PreviousReportError, PreviousSignals, read_previous
from cerflow.sample.generate import SAMPLE_DIR
from cerflow.store import migrate
from cerflow.store.keys import srn_key, udi_di_key


def _progress() -> Progress:
    """The report's stage bar (it names stages as they start, which the import bars don't)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def run_report(
    engine: Engine,
    *,
    out_dir: Path,
    drug: str | None,
    device_codes: list[str] | None,
    since: dt.date | None,
    until: dt.date | None,
    formats: tuple[str, ...],
    label: str,
    udi_dis: list[str] | None = None,
    srns: list[str] | None = None,
    background: str | None = None,
    cer_inputs: CerInputs | None = None,
    version: int = 1,
    previous: VersionSnapshot | None = None,
    previous_signals: PreviousSignals | None = None,
) -> ReportResult:
    """Generate one report under a progress bar of the four stages.

    `background` "openfda" compares a drug with openFDA's whole-database counts (fetched
    or read from the cache); None takes `signal_background` from the settings.
    """
    settings = get_settings()
    chosen = check_background(background or settings.signal_background)
    counts = counts_provider(settings) if chosen == "openfda" else None
    with _progress() as progress:
        task = progress.add_task(f"{label}: facts", total=len(STAGES))
        seen: list[str] = []

        def stage(name: str) -> None:
            if seen:
                progress.advance(task)
            if name == "done":
                progress.update(task, description=f"{label}: done")
                return
            seen.append(name)
            progress.update(task, description=f"{label}: {name}")
            if name == "charts":  # charts and documents are drawn in one renderer call
                progress.advance(task)
                seen.append("documents")
                progress.update(task, description=f"{label}: charts and documents")

        return generate_report(
            engine,
            out_dir=out_dir,
            drug=drug,
            device_codes=device_codes,
            since=since,
            until=until,
            formats=formats,
            stage=stage,
            udi_dis=udi_dis or (),
            srns=srns or (),
            background=chosen,
            background_counts=counts,
            cer_inputs=cer_inputs,
            version=version,
            previous_signals=previous_signals,
            previous=previous,
        )


def run_versioned_report(
    engine: Engine,
    *,
    out_dir: Path,
    drug: str | None,
    device_codes: list[str] | None,
    since: dt.date | None,
    until: dt.date | None,
    formats: tuple[str, ...],
    label: str,
    udi_dis: list[str] | None = None,
    srns: list[str] | None = None,
    background: str | None = None,
    cer_inputs: CerInputs | None = None,
    previous_signals: PreviousSignals | None = None,
) -> ReportResult:
    """`run_report` as the product's next version (draft), recorded with its audit row."""
    kind, ref, number, previous = next_version_of(engine, drug, device_codes)
    result = run_report(
        engine,
        out_dir=out_dir,
        drug=drug,
        device_codes=device_codes,
        since=since,
        until=until,
        formats=formats,
        label=label,
        udi_dis=udi_dis,
        srns=srns,
        background=background,
        cer_inputs=cer_inputs,
        version=number,
        previous=previous,
        previous_signals=previous_signals,
    )
    record_version(engine, kind, ref, number, result)
    return result


def _print_files(result: ReportResult) -> None:
    console = out()
    facts = result.facts
    console.print(
        f"[bold]{facts.meta.title}[/bold] ({facts.meta.report_id} v{facts.meta.version}, "
        f"data cut-off {facts.meta.data_cutoff})"
    )
    if facts.meta.generated_data:
        console.print(
            "[bold yellow]Built from generated sample data, not real reports.[/bold yellow]"
        )
    for fmt, path in sorted(result.files.items()):
        console.print(f"  {fmt:5} {path}")
    if result.narrative.llm.get("enabled"):
        llm = result.narrative.llm
        console.print(
            f"  LLM {llm.get('model')}: {llm.get('accepted')} paragraphs accepted, "
            f"{llm.get('rejected')} rejected, {llm.get('prompt_tokens')} + "
            f"{llm.get('completion_tokens')} tokens, ${llm.get('cost_usd')}"
        )


def _refresh_from_openfda(
    engine: Engine, drug: str | None, codes: list[str], since: dt.date | None, until: dt.date | None
) -> None:
    """Import the product's openFDA data first; an unreachable API is a clear error."""
    try:
        with progress_bar() as progress:
            refresh_product(
                engine,
                drug=drug,
                codes=codes,
                since=since,
                until=until,
                settings=get_settings(),
                progress=progress,
            )
    except IngestInputError as exc:
        raise fail(exc, 2) from None
    except CerflowError as exc:
        raise fail(exc) from None
    if drug:  # the drug's label for the labelled-status check; the report goes on without
        _label, why_not = refresh_label(engine, drug=drug, settings=get_settings())
        if why_not:
            err.print(f"[yellow]drug label not updated:[/yellow] {why_not.splitlines()[0]}")


def _read_inputs(path: Path | None, refs: list[str]) -> CerInputs | None:
    """The validated inputs file, or exit 2 with every "field: why" (before any work)."""
    if path is None:
        return None
    try:
        inputs = load_inputs(path)
        check_product(inputs, refs, path.name)
        return inputs
    except CerInputsError as exc:
        err.print(f"[red]error:[/red] --inputs {exc.where}: invalid CER inputs")
        for line in exc.errors:
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _eudamed_keys(
    drug: str | None, udi_di: list[str] | None, srn: list[str] | None
) -> tuple[list[str], list[str]]:
    """--udi-di/--srn checked and normalized before anything is read or fetched."""
    try:
        udi_dis = [udi_di_key(u) for u in udi_di or []]
        srns = [srn_key(s) for s in srn or []]
    except ValueError as exc:
        raise fail(exc, 2) from None
    if (udi_dis or srns) and drug:
        raise fail("--udi-di and --srn link EUDAMED device records: use them with --device-code", 2)
    return udi_dis, srns


def report_command(
    ctx: typer.Context,
    drug: Annotated[
        str | None, typer.Option("--drug", help="Drug name or ingredient, e.g. 'atorvastatin'.")
    ] = None,
    device_code: Annotated[
        list[str] | None,
        typer.Option("--device-code", help="FDA device product code, e.g. LZG (repeatable)."),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use only stored data; do not contact openFDA.")
    ] = False,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Comma-separated: pdf,docx,html,json.")
    ] = "pdf,docx,html,json",
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("reports"),
    udi_di: Annotated[
        list[str] | None,
        typer.Option(
            "--udi-di",
            help="Link EUDAMED records with this UDI-DI or Basic UDI-DI (repeatable; devices).",
        ),
    ] = None,
    srn: Annotated[
        list[str] | None,
        typer.Option(
            "--srn",
            help="Link EUDAMED records of this manufacturer SRN, e.g. DE-MF-000001234 "
            "(repeatable; devices).",
        ),
    ] = None,
    background: Annotated[
        str | None,
        typer.Option(
            "--background",
            help="Disproportionality background: 'store' (the local store) or 'openfda' "
            "(the whole FAERS database as counted by openFDA; drugs). "
            "Default: CERFLOW_SIGNAL_BACKGROUND.",
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            help="CER inputs file (.yaml/.json; see `cerflow inputs schema`): fills the "
            "writer-input boxes and the sign-off chapter.",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="facts.json of the earlier report of the same product: each signal's "
            "status (new / ongoing / closed) and first-detected date are computed against it.",
        ),
    ] = None,
) -> None:
    """Write a Clinical Evaluation Report for one drug or device product code(s).

    Each report is the product's next version (a draft until approved); see
    `cerflow report versions|review|approve|diff`.
    """
    if ctx.invoked_subcommand is not None:  # `cerflow report review ...` etc.
        return
    codes = one_product(drug, device_code)
    cer_inputs = _read_inputs(inputs, [drug] if drug else codes)
    try:
        previous_signals = read_previous(previous) if previous is not None else None
    except PreviousReportError as exc:
        raise fail(exc, 2) from None
    since_d, until_d = review_window(since, until)
    udi_di, srn = _eudamed_keys(drug, udi_di, srn)
    if background is not None:
        try:
            background = check_background(background)
        except ValueError as exc:
            raise fail(f"--background: {exc}", 2) from None
    try:
        formats = parse_formats(fmt)
    except ValueError as exc:
        raise fail(f"--format: {exc}", 2) from None
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        if not offline:
            _refresh_from_openfda(engine, drug, codes, since_d, until_d)
        try:
            result = run_versioned_report(
                engine,
                out_dir=out,
                drug=drug,
                device_codes=codes,
                since=since_d,
                until=until_d,
                formats=formats,
                label=drug or ", ".join(codes),
                udi_dis=udi_di,
                srns=srn,
                background=background,
                cer_inputs=cer_inputs,
                previous_signals=previous_signals,
            )
        except NotFoundError as exc:  # no such product in the store
            raise fail(exc) from None
        except CerflowError as exc:  # openFDA refused or failed the background counts
            raise fail(exc) from None
        except ValueError as exc:
            raise fail(exc, 2) from None
        _print_files(result)
    finally:
        engine.dispose()


DEMO_V1_UNTIL = dt.date(2023, 12, 31)


def _focus_products(manifest: dict[str, Any]) -> tuple[str, str]:
    """The drug and device the sample plants its signals on (fallback: the first focus)."""
    faers = manifest.get("faers", {})
    maude = manifest.get("maude", {})
    drug = (faers.get("planted", {}).get("signal") or {}).get("drug") or faers["focus_drugs"][0][
        "name"
    ]
    code = (maude.get("planted", {}).get("signal") or {}).get("product_code") or maude[
        "focus_product_codes"
    ][0]
    return str(drug), str(code)


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out"),
) -> None:
    """Build a store from the bundled SYNTHETIC sample and write one drug and one device CER."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))
    drug, code = _focus_products(manifest)
    engine = make_engine(f"sqlite:///{db.resolve()}")
    try:
        migrate.upgrade(engine)
        try:
            with progress_bar() as progress:
                ingest_sample(
                    engine, progress=lambda step, n, total: progress(f"sample: {step}", n, total)
                )
        except CerflowError as exc:
            raise fail(exc) from None
        # Issue 14: a SYNTHETIC literature set (protocol, search, screening, appraisal) for
        # the device, so its CER shows the literature chapter and the PRISMA diagram.
        from cerflow.sample.literature import load_demo_literature

        load_demo_literature(engine, product_code=code)
        examples = write_examples(out / "examples")
        # The device report is rendered with the filled example inputs (a CER with a
        # sign-off chapter); the drug report without (public data only, honest title).
        device_inputs = load_inputs(examples["example"]) if code == "LZG" else None
        results = []
        # Version 1 of the drug report as it stood a year and a half earlier (data to the
        # end of 2023), approved; the drug report below is then version 2 and carries its
        # "Changes since the previous version" chapter (plus an HTML diff of the two).
        results.append(
            run_versioned_report(
                engine,
                out_dir=out / f"{drug.lower()}-v1",
                drug=drug,
                device_codes=None,
                since=None,
                until=DEMO_V1_UNTIL,
                formats=("pdf", "html", "json"),
                label=f"{drug.lower()} v1",
            )
        )
        approve_demo(engine, results[-1])
        for kwargs, sub in (
            ({"drug": drug, "device_codes": None}, drug.lower()),
            ({"drug": None, "device_codes": [code], "cer_inputs": device_inputs}, code.lower()),
        ):
            results.append(
                run_versioned_report(
                    engine,
                    out_dir=out / sub,
                    since=None,
                    until=None,
                    formats=("pdf", "docx", "html", "json"),
                    label=sub,
                    **kwargs,
                )
            )
        diff_html = write_demo_diff(engine, drug, out / f"{drug.lower()}-changes.html")
        logins = _demo_logins(engine)
        for result in results:
            _print_files(result)
        out_console = _out_console()
        out_console.print(f"  CER inputs: empty template {examples['template']}")
        out_console.print(f"  CER inputs: filled example {examples['example']} (used for {code})")
        stdout().print(f"changes from version 1 to 2 of {drug}: {diff_html}")
        _print_web_hint(out, db, logins)
    finally:
        engine.dispose()


DEMO_USERS = (
    ("writer@demo.cerflow.local", "analyst"),
    ("approver@demo.cerflow.local", "approver"),
    ("admin@demo.cerflow.local", "admin"),
)


def _demo_logins(engine: Engine) -> list[tuple[str, str, str]]:
    """Demo accounts in the demo store, each with a fresh random password (the store is
    rebuilt on every run, so nothing from an earlier run still signs in)."""
    import secrets

    from cerflow.auth import service as auth_service
    from cerflow.auth.models import Role
    from cerflow.db import make_session_factory
    from cerflow.unit_of_work import unit_of_work

    logins = []
    with unit_of_work(make_session_factory(engine)) as session:
        for email, role in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            auth_service.create_user(
                session=session, email=email, password=password, role=Role(role)
            )
            logins.append((email, role, password))
    return logins


def _print_web_hint(out: Path, db: Path, logins: list[tuple[str, str, str]]) -> None:
    console = stdout()
    console.print(
        "\n[bold]The pages[/bold] (search, product pages, reports, signal review, alerts): run\n"
        f"  CERFLOW_DATABASE_URL=sqlite:///{db.resolve()} CERFLOW_DATA_DIR={out.resolve()} "
        "uv run cerflow serve --no-migrate\n"
        "then open http://127.0.0.1:8000/ and sign in with a demo login "
        "(created in the demo store only, new passwords on every run):",
        soft_wrap=True,
    )
    for email, role, password in logins:
        console.print(f"  {role:<9} {email}  password: {password}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `cerflow report` (a group whose callback is the report itself, so
    `cerflow report --drug ...` works as before, with `review|approve|diff|versions`
    beside it), `cerflow demo` and `cerflow audit` to the root app."""
    report_app = typer.Typer(help="Write a report; review, approve and compare its versions.")
    report_app.callback(invoke_without_command=True)(report_command)
    register_report_commands(report_app)
    app.add_typer(report_app, name="report")
    app.command("demo")(demo_command)
    register_audit(app)
