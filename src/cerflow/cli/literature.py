"""`cerflow literature protocol set|show` and `cerflow literature search --product X`.

`protocol set` reads a YAML or JSON protocol file (question, names, databases, queries,
dates, inclusion/exclusion criteria), validates it (every problem as "field: why", exit 2,
nothing stored) and stores it as the product's next protocol version; `protocol show`
prints the current (or a given) version with its generated queries. `search` runs the
current protocol against its databases with a progress line per database and stores the
search (counts per database, duplicates per rule, records) and carries earlier screening
decisions over to matching records. `searches` lists them. `screen` lists the screening
queue of a search (the latest by default), records a decision (`--record ID --stage S
--include|--exclude [--reason CODE] [--note TEXT]`; the decider is `--by`, default
`cli:<os user>`) or asks the LLM for suggestions (`--suggest`), which a human then confirms
(`--confirm SUGGESTION_ID`) or overrides. `export` writes the screening log as CSV.
`appraise --record ID` stores a
MEDDEV 2.7/1 rev 4 A6 appraisal of an included record, from a YAML/JSON file or from
options (`--grades D1,A1,P1,R1,T1,O1,F1,S1,C1 --finding "Rhabdomyolysis:3/412:adults"`).
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from sqlalchemy import Engine

from cerflow.cli._common import err, fail, out, progress_bar
from cerflow.db import make_engine, make_session_factory
from cerflow.errors import CerflowError
from cerflow.literature import screening, service
from cerflow.literature.schemas import ProtocolError
from cerflow.sources.base import SourceFormatError
from cerflow.sources.literature_base import SearchResult
from cerflow.store import migrate
from cerflow.unit_of_work import unit_of_work

app = typer.Typer(
    help="Literature review: search protocol, searches, screening and its log.",
    no_args_is_help=True,
)
protocol_app = typer.Typer(help="The product's search protocol (versioned).", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")


def _engine() -> Engine:
    engine = make_engine()
    migrate.upgrade(engine)
    return engine


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: cannot read the protocol file ({exc.strerror})", 2) from None
    try:
        return json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
        raise fail(f"{file}: not valid {kind}: {exc}", 2) from None


@protocol_app.command("set")
def protocol_set(
    file: Annotated[Path, typer.Argument(help="Protocol file (.yaml, .yml or .json).")],
    product: Annotated[str, typer.Option("--product", help="Drug name or device code.")],
) -> None:
    """Validate and store a protocol as the product's next version."""
    data = _read(file)
    engine = _engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            row, proto, created = service.set_protocol(
                session=session, product_ref=product, data=data, user_id=None
            )
            version, ref = row.version, row.product_ref
    except ProtocolError as exc:
        err.print(f"[red]error:[/red] {file}: invalid literature protocol")
        for line in exc.problems:
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console = out()
    if created:
        console.print(f"{ref}: literature protocol version {version} stored", markup=False)
    else:
        console.print(f"{ref}: unchanged; literature protocol version {version} kept", markup=False)
    for db in proto.databases:
        console.print(f"  {db}: {proto.queries[db]}", markup=False, highlight=False)


@protocol_app.command("show")
def protocol_show(
    product: Annotated[str, typer.Option("--product", help="Drug name or device code.")],
    version: Annotated[int | None, typer.Option("--version", help="A past version.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the protocol as JSON.")] = False,
) -> None:
    """Print the product's current (or a given) protocol version."""
    engine = _engine()
    try:
        with make_session_factory(engine)() as session:
            found = service.get_protocol(session=session, product_ref=product, version=version)
            if found is None:
                which = f"version {version}" if version is not None else "protocol"
                raise fail(f"{product}: no literature {which} stored", 1)
            row, proto = found
            head = (
                f"{row.product_ref}: literature protocol version {row.version}, "
                f"by {row.created_by_email} at {row.created_at:%Y-%m-%d %H:%M} UTC"
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({"version": row.version, **proto.model_dump(mode="json")}, indent=2))
        return
    console = out()
    console.print(head, markup=False)
    q = proto.question
    console.print(
        f"Question: P={q.population!r} I={q.intervention!r} C={q.comparator!r} O={q.outcomes!r}",
        markup=False,
    )
    console.print(f"Dates: {proto.date_from or 'any'} to {proto.date_to or 'today'}", markup=False)
    table = Table("database", "query")
    for db in proto.databases:
        table.add_row(db, proto.queries[db])
    console.print(table)
    for label, items in (("Inclusion", proto.inclusion), ("Exclusion", proto.exclusion)):
        for c in items:
            console.print(f"{label} {c.code}: {c.text}", markup=False)


@app.command("search")
def search_command(
    product: Annotated[str, typer.Option("--product", help="Drug name or device code.")],
) -> None:
    """Run the product's current protocol and store the search."""
    from cerflow.config import get_settings
    from cerflow.sources.ctgov import ClinicalTrialsClient
    from cerflow.sources.europepmc import EuropePMCClient
    from cerflow.sources.pubmed import PubMedClient

    settings = get_settings()
    clients: dict[str, PubMedClient | EuropePMCClient | ClinicalTrialsClient] = {
        "pubmed": PubMedClient.from_settings(settings),
        "europepmc": EuropePMCClient.from_settings(settings),
        "ctgov": ClinicalTrialsClient.from_settings(settings),
    }
    engine = _engine()
    try:
        with progress_bar(spinner=True) as advance:

            def progress(db: str, result: SearchResult) -> None:
                advance(f"{db}: {len(result.records):,} of {result.total:,}", 1, None)

            with unit_of_work(make_session_factory(engine)) as session:
                search = service.run_search(
                    session=session,
                    product_ref=product,
                    clients=clients,
                    user_id=None,
                    progress=progress,
                )
                summary = (
                    search.id,
                    search.product_ref,
                    search.counts,
                    search.identified,
                    search.duplicates_removed,
                    search.unique_records,
                )
    except LookupError as exc:
        raise fail(str(exc), 2) from None
    except (CerflowError, SourceFormatError, ValueError) as exc:
        raise fail(f"{exc} (nothing stored)", 1) from None
    finally:
        for client in clients.values():
            client.close()
        engine.dispose()
    sid, ref, counts, identified, removed, unique = summary
    table = Table("database", "matched", "fetched", "note")
    for db, c in counts["databases"].items():
        table.add_row(db, f"{c['total']:,}", f"{c['fetched']:,}", c["note"])
    console = out()
    console.print(f"{ref}: literature search {sid} stored", markup=False)
    console.print(table)
    by_rule = ", ".join(f"{k} {v}" for k, v in counts["duplicates_by_rule"].items())
    console.print(
        f"Identified {identified:,}; duplicates removed {removed:,} ({by_rule}); "
        f"unique records {unique:,}",
        markup=False,
    )
    carried = counts.get("screening_carried_over") or {}
    if carried.get("records_matched"):
        console.print(
            f"Screening carried over from earlier searches: {carried['decisions_carried']:,} "
            f"decisions on {carried['records_carried']:,} records; "
            f"{carried['not_carried']:,} not carried (the criteria they were judged against "
            "changed: screen them again)",
            markup=False,
        )


def _search_id(session: Any, product: str | None, search: int | None) -> int:
    if search is not None:
        return screening.get_search(session=session, search_id=search, product_ref=product).id
    if product is None:
        raise fail("give --search ID or --product X (its latest search)", 2)
    latest = screening.latest_search(session=session, product_ref=product)
    if latest is None:
        raise fail(
            f"{product}: no literature search stored; run cerflow literature search --product "
            f"{product}",
            1,
        )
    return latest.id


@app.command("searches")
def searches_command(
    product: Annotated[str, typer.Option("--product", help="Drug name or device code.")],
) -> None:
    """List the product's stored searches, newest first, with screening progress."""
    engine = _engine()
    try:
        with make_session_factory(engine)() as session:
            table = Table(
                "search", "finished", "unique", "to screen", "full text", "excluded", "included"
            )
            for s in service.list_searches(session=session, product_ref=product):
                t = screening.tally(screening.record_states(session, s.id))
                table.add_row(
                    str(s.id),
                    f"{s.finished_at:%Y-%m-%d %H:%M}",
                    f"{s.unique_records:,}",
                    f"{t['to_screen']:,}",
                    f"{t['full_text']:,}",
                    f"{t['excluded_title_abstract'] + t['excluded_full_text']:,}",
                    f"{t['included']:,}",
                )
    finally:
        engine.dispose()
    out().print(table)


def _print_queue(session: Any, search_id: int, show_all: bool) -> None:
    states = screening.record_states(session, search_id)
    t = screening.tally(states)
    console = out()
    console.print(
        f"Search {search_id}: {t['records']:,} unique records; {t['to_screen']:,} to screen "
        f"(title/abstract), {t['full_text']:,} at full text, {t['included']:,} included, "
        f"{t['excluded_title_abstract'] + t['excluded_full_text']:,} excluded",
        markup=False,
    )
    table = Table("record", "next", "ids", "title", "state / suggestion")
    for st in states:
        if not show_all and st.next_stage is None:
            continue
        rec = st.record
        ids = " ".join(
            f"{k}:{v}" for k, v in (("PMID", rec.pmid), ("DOI", rec.doi), ("NCT", rec.nct_id)) if v
        )
        hint = st.state.replace("_", " ")
        sug = st.suggestion
        if sug is not None and st.next_stage == "title_abstract":
            hint = (
                f"LLM suggests {sug.decision}{' ' + sug.reason_code if sug.reason_code else ''} "
                f"(confirm with --confirm {sug.id}): {sug.rationale or ''}"
            )
        table.add_row(
            str(rec.id),
            screening.STAGE_LABELS.get(st.next_stage or "", "-"),
            ids,
            rec.title[:120],
            hint,
        )
    console.print(table)


@app.command("screen")
def screen_command(
    product: Annotated[
        str | None, typer.Option("--product", help="Drug name or device code (latest search).")
    ] = None,
    search: Annotated[int | None, typer.Option("--search", help="Search id.")] = None,
    record: Annotated[int | None, typer.Option("--record", help="Record id to decide.")] = None,
    stage: Annotated[
        str, typer.Option("--stage", help="title_abstract or full_text.")
    ] = "title_abstract",
    include: Annotated[bool, typer.Option("--include", help="Include the record.")] = False,
    exclude: Annotated[bool, typer.Option("--exclude", help="Exclude the record.")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Exclusion code of the protocol (E1...).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free-text note.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who decides (default cli:<os user>).")
    ] = None,
    confirm: Annotated[
        int | None,
        typer.Option("--confirm", help="Confirm this LLM suggestion (its decision and reason)."),
    ] = None,
    suggest: Annotated[
        bool, typer.Option("--suggest", help="Ask the LLM for suggestions on the queue.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Records sent to the LLM at most.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every record, decided ones too.")
    ] = False,
) -> None:
    """List the screening queue, record a decision, or ask the LLM for suggestions."""
    from cerflow.config import get_settings
    from cerflow.literature.models import LiteratureScreeningSuggestion

    if include and exclude:
        raise fail("give --include or --exclude, not both", 2)
    deciding = include or exclude or confirm is not None
    if deciding and record is None:
        raise fail("a decision needs --record ID (see the queue: cerflow literature screen)", 2)
    if record is not None and not deciding:
        raise fail("--record needs --include, --exclude or --confirm SUGGESTION_ID", 2)
    who = by or f"cli:{getpass.getuser()}"
    engine = _engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            sid = _search_id(session, product, search)
            if suggest:
                res = screening.suggest(
                    session=session,
                    search_id=sid,
                    settings=get_settings(),
                    user_id=None,
                    by=who,
                    limit=limit,
                )
                out().print(
                    f"Search {sid}: {res.asked} records sent to {res.model}; {res.valid} "
                    f"suggestions, {res.invalid} unusable answers, {res.failed} failed; "
                    f"{res.prompt_tokens + res.completion_tokens:,} tokens, "
                    f"cost ${res.cost_usd:.4f}. Suggestions are not decisions: confirm or "
                    "override each.",
                    markup=False,
                )
                if res.error:
                    err.print(f"[yellow]warning:[/yellow] {res.error}", highlight=False)
            elif deciding:
                assert record is not None
                decision = "include" if include else "exclude" if exclude else ""
                reason_code = reason
                if confirm is not None:
                    sug = session.get(LiteratureScreeningSuggestion, confirm)
                    if sug is None:
                        raise fail(f"no LLM suggestion {confirm}", 2)
                    decision = decision or (sug.decision or "")
                    reason_code = reason_code or sug.reason_code
                row = screening.record_decision(
                    session=session,
                    search_id=sid,
                    record_id=record,
                    stage=stage,
                    decision=decision,
                    reason_code=reason_code,
                    note=note,
                    user_id=None,
                    by=who,
                    suggestion_id=confirm,
                    product_ref=product,
                )
                out().print(
                    f"record {record}: {screening.STAGE_LABELS.get(stage, stage)} "
                    f"{row.decision}{' ' + row.reason_code if row.reason_code else ''} "
                    f"recorded by {row.decided_by_email}"
                    + (" (LLM suggestion confirmed)" if row.llm_suggested else ""),
                    markup=False,
                )
            else:
                _print_queue(session, sid, show_all)
    except screening.ScreeningError as exc:
        raise fail(f"{exc} (nothing stored)", 2) from None
    except CerflowError as exc:
        raise fail(str(exc), 1) from None
    finally:
        engine.dispose()


@app.command("export")
def export_command(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    product: Annotated[
        str | None, typer.Option("--product", help="Drug name or device code (latest search).")
    ] = None,
    search: Annotated[int | None, typer.Option("--search", help="Search id.")] = None,
) -> None:
    """Write the screening log (every decision row) of a search as CSV."""
    engine = _engine()
    try:
        with make_session_factory(engine)() as session:
            sid = _search_id(session, product, search)
            text = screening.screening_log_csv(session, sid)
    except CerflowError as exc:
        raise fail(str(exc), 1) from None
    finally:
        engine.dispose()
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{out_file}: cannot write ({exc.strerror})", 1) from None
    rows = len(list(csv.reader(io.StringIO(text)))) - 1
    out().print(f"Search {sid}: {rows:,} decision rows written to {out_file}", markup=False)


def _grades(text: str) -> dict[str, Any]:
    """'D1,A1,P1,R1,T1,O1,F1,S1,C1' -> the suitability and contribution mappings."""
    names = {
        "D": ("suitability", "device"),
        "A": ("suitability", "application"),
        "P": ("suitability", "population"),
        "R": ("suitability", "report"),
        "T": ("contribution", "design"),
        "O": ("contribution", "outcomes"),
        "F": ("contribution", "follow_up"),
        "S": ("contribution", "statistics"),
        "C": ("contribution", "clinical_significance"),
    }
    out: dict[str, Any] = {"suitability": {}, "contribution": {}}
    for grade in (g.strip().upper() for g in text.split(",") if g.strip()):
        if grade[:1] not in names:
            raise fail(
                f"--grades: {grade!r} is not a MEDDEV A6 grade; give one of each of "
                "D1-3, A1-3, P1-3, R1-3, T1-2, O1-2, F1-2, S1-2, C1-2",
                2,
            )
        group, field = names[grade[0]]
        out[group][field] = grade
    return out


def _finding(text: str) -> dict[str, Any]:
    """'Rhabdomyolysis:3/412:adults' (frequency and population optional)."""
    event, _, rest = text.partition(":")
    freq, _, population = rest.partition(":")
    item: dict[str, Any] = {"event": event, "population": population.strip()}
    if freq.strip():
        n, slash, total = freq.partition("/")
        if not slash or not n.strip().isdigit() or not total.strip().isdigit():
            raise fail(
                f"--finding {text!r}: write the frequency as n/N, e.g. Rhabdomyolysis:3/412:adults",
                2,
            )
        item["events"], item["patients"] = int(n), int(total)
    return item


@app.command("appraise")
def appraise_command(
    record: Annotated[int, typer.Option("--record", help="Record id (an included record).")],
    file: Annotated[
        Path | None, typer.Argument(help="Appraisal file (.yaml, .yml or .json).")
    ] = None,
    grades: Annotated[
        str | None, typer.Option("--grades", help="E.g. D1,A1,P1,R1,T1,O1,F1,S1,C1.")
    ] = None,
    finding: Annotated[
        list[str] | None,
        typer.Option("--finding", help="event:n/N:population (repeatable)."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Evaluator's note.")] = None,
) -> None:
    """Appraise an included record after MEDDEV 2.7/1 rev 4 A6 (a new, current appraisal)."""
    from cerflow.literature import appraisal

    if (file is None) == (grades is None):
        raise fail("give either an appraisal FILE or --grades (and --finding), not both", 2)
    where = str(file) if file is not None else "options"
    if file is not None:
        data = _read(file)
    else:
        data = _grades(grades or "")
        data["findings"] = [_finding(f) for f in finding or []]
    if note is not None and isinstance(data, dict):
        data["note"] = note
    engine = _engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            row = appraisal.appraise(
                session=session, record_id=record, data=data, user_id=None, where=where
            )
            summary = (row.id, row.weight, row.weight_class, len(row.findings))
    except appraisal.AppraisalError as exc:
        err.print(f"[red]error:[/red] {exc.where}", highlight=False)
        for line in exc.problems:
            err.print(f"  {line}", markup=False, highlight=False)
        err.print("  nothing stored", markup=False)
        raise typer.Exit(2) from None
    except CerflowError as exc:
        raise fail(f"{exc} (nothing stored)", 1) from None
    finally:
        engine.dispose()
    aid, weight, weight_class, findings = summary
    out().print(
        f"record {record}: appraisal {aid} stored; weight {weight} ({weight_class}); "
        f"{findings} safety finding(s)",
        markup=False,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="literature")
