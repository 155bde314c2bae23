"""One report from stored data: facts -> narrative (-> LLM polish) -> charts and documents.

    generate_report(engine, *, drug=None, device_codes=None, since=None, until=None,
                    settings=None, formats=("pdf", "docx", "html", "json"), out_dir,
                    report_id=None, version=1, stage=None, cer_inputs=None) -> ReportResult

Shared by `cerflow report`, `cerflow demo`, the report job (`cerflow.reports.tasks`) and
the benchmark so they all produce the same files: the same facts (one thread for BLAS,
the shared signal cache), the same narrative, polished by the LLM when `llm_base_url` is
set. `stage(name)` is called as each stage starts (facts, narrative, charts, then done)
so callers can drive a progress bar; the job maps it to its progress and lets it raise
to stop a cancelled job. `compute_facts` is the facts stage alone (the analysis job).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from cerflow.cer_inputs.schemas import CerInputs
from cerflow.config import Settings, get_settings
from cerflow.narrative.changes import VersionSnapshot, changes_for_new_version, narrative_texts
from cerflow.narrative.facts import Facts
from cerflow.narrative.llm import polish_narrative
from cerflow.narrative.render import write_narrative
from cerflow.narrative.sections import Narrative
from cerflow.report.cer_facts import apply_cer_inputs
from cerflow.report.signal_status import PreviousSignals, apply_previous, previous_signals_of

if TYPE_CHECKING:
    from cerflow.report.background import CountsProvider

FORMATS = ("pdf", "docx", "html", "json")
STAGES = ("facts", "narrative", "charts", "documents")


@dataclass(slots=True)
class ReportResult:
    facts: Facts
    narrative: Narrative
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)
    # section id -> {"title", "text"} of the template narrative (before any LLM polish):
    # what a report version stores so a later version can say which text changed.
    template_texts: dict[str, dict[str, str]] = field(default_factory=dict)


def parse_formats(text: str) -> tuple[str, ...]:
    """'pdf,docx' -> ('pdf', 'docx'); unknown names are an error naming the valid ones."""
    wanted = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise ValueError(
            f"unknown format(s) {', '.join(bad) or '(none given)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return tuple(dict.fromkeys(wanted))


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Statsmodels' many small fits run several times slower when OpenBLAS spins threads on
    a busy machine; one thread per process is faster for these sizes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: only a speed-up
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _render(
    facts: Facts,
    narrative: Narrative,
    out_dir: Path,
    formats: Sequence[str],
) -> dict[str, Path]:
    # Imported here: charts and documents load matplotlib and WeasyPrint, which a process
    # that only starts the CLI or the API must not pay for.
    from cerflow.report.render import render_report

    return render_report(facts, narrative, out_dir, list(formats))


def compute_facts(
    engine: Engine,
    *,
    drug: str | None = None,
    device_codes: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    settings: Settings | None = None,
    report_id: str | None = None,
    version: int = 1,
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
    background: str | None = None,
    background_counts: CountsProvider | None = None,
) -> Facts:
    """The facts stage: every number a report may state, from the store.

    The database-wide disproportionality run is shared through the signal cache under
    the data directory by every report on the same data version (workers share it in
    deployments).
    """
    # Imported here: the facts need scipy and statsmodels, which a process that only
    # starts the CLI or the API must not load (start-up time).
    from cerflow.report.facts_builder import build_facts
    from cerflow.report.signal_cache import SignalCache

    settings = settings or get_settings()
    with single_threaded_blas():
        return build_facts(
            engine,
            drug=drug,
            device_codes=device_codes,
            since=since,
            until=until,
            settings=settings,
            report_id=report_id,
            version=version,
            signal_cache=SignalCache(
                settings.data_dir / "cache" / "signals",
                max_bytes=int(settings.signal_cache_max_gb * 1e9),
            ),
            udi_dis=udi_dis,
            srns=srns,
            background=background,
            background_counts=background_counts,
        )


def generate_report(
    engine: Engine,
    *,
    out_dir: Path,
    drug: str | None = None,
    device_codes: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    settings: Settings | None = None,
    formats: Sequence[str] = FORMATS,
    report_id: str | None = None,
    version: int = 1,
    stage: Callable[[str], Any] | None = None,
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
    background: str | None = None,
    background_counts: CountsProvider | None = None,
    cer_inputs: CerInputs | None = None,
    previous: VersionSnapshot | None = None,
    previous_signals: PreviousSignals | None = None,
) -> ReportResult:
    """`previous`: the product's previous version; the report then carries the
    "Changes since the previous version" chapter (pass `version=previous.number + 1`), and
    each SDR's status (new / ongoing / closed) is computed against it.
    `previous_signals`: the SDRs of an earlier report given as a facts.json instead
    (`cerflow report --previous`); it wins over `previous` for the signal status."""
    settings = settings or get_settings()
    timings: dict[str, float] = {}

    def start(name: str) -> float:
        if stage is not None:
            stage(name)
        return time.perf_counter()

    t = start("facts")
    facts = compute_facts(
        engine,
        drug=drug,
        device_codes=device_codes,
        since=since,
        until=until,
        settings=settings,
        report_id=report_id,
        version=version,
        udi_dis=udi_dis,
        srns=srns,
        background=background,
        background_counts=background_counts,
    )
    facts = apply_cer_inputs(facts, cer_inputs, settings=settings)
    if previous_signals is None and previous is not None:
        previous_signals = previous_signals_of(previous.facts, where=f"version {previous.number}")
    facts = apply_previous(facts, previous_signals)
    timings["facts"] = time.perf_counter() - t
    t = start("narrative")
    narrative = write_narrative(facts)
    if previous is not None:
        facts = facts.model_copy(
            update={"changes": changes_for_new_version(previous, facts, narrative)}
        )
        narrative = write_narrative(facts)
    template_texts = narrative_texts(narrative)
    if settings.llm_base_url:
        narrative = polish_narrative(narrative, facts, settings)
    timings["narrative"] = time.perf_counter() - t
    t = start("charts")  # charts and documents are drawn by one renderer call
    files = _render(facts, narrative, out_dir, formats)
    timings["documents"] = time.perf_counter() - t
    if stage is not None:
        stage("done")
    from cerflow.observability.runtime_metrics import REPORT_BUILD

    built = "+".join(sorted(formats))
    for name, seconds in timings.items():
        REPORT_BUILD.labels(formats=built, stage=name).observe(seconds)
    return ReportResult(
        facts=facts,
        narrative=narrative,
        files=files,
        timings=timings,
        template_texts=template_texts,
    )
