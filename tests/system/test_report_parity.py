"""A report made by a job on a real Celery worker is the report `cerflow report` makes.

The same stored product is reported twice with the replay LLM configured: once through
the CLI (`cerflow report --offline`, in this process) and once as a report job run by a
worker process. Their facts.json must agree field by field, apart from what names the
run (the report id and the generation time), and both narratives must have been
polished: the same paragraphs sent to the LLM, every rewrite accepted and rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cerflow.cli import app as cli_app
from cerflow.config import Settings, get_settings
from cerflow.jobs.submitters import CelerySubmitter
from cerflow.unit_of_work import unit_of_work
from tests.replay.llm_server import API_KEY, ReplayLLM
from tests.system.conftest import Workers, wait_for, worker_env
from tests.system.store_seed import SIGNAL_CODE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MARK = "Polished:"  # the replay LLM's mark on each paragraph; it carries no number
# What names a run rather than describes the data: the id and the clock.
# The CLI's report is version 1 of the product; the job's, made next, is version 2 and
# carries its "Changes since the previous version" chapter (issue 12): those name the run too.
# Run identity: which report this is, when, its version, and which version came before it
# (other tests may have written versions of the same product into the shared store).
RUN_FIELDS = {
    ("meta", "report_id"),
    ("meta", "generated_at"),
    ("meta", "version"),
    ("changes",),
    ("signals", "sdr", "previous_report"),
}


@pytest.fixture
def llm() -> Iterator[ReplayLLM]:
    with ReplayLLM() as server:
        server.rewrite = lambda text: f"{MARK} {text}"
        yield server


def _with_llm(settings: Settings, llm: ReplayLLM) -> Settings:
    return settings.model_copy(
        update={
            "llm_base_url": llm.url,
            "llm_api_key": SecretStr(API_KEY),
            "llm_model": "replay-model",
        }
    )


def _unnamed(paragraphs: list[str], facts: dict[str, Any]) -> list[str]:
    """The paragraphs with the run's id, version and time masked, in a stable order."""
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
    version = re.compile(r"version \d+")
    report_id = facts["meta"]["report_id"]
    previous = ((facts.get("signals") or {}).get("sdr") or {}).get("previous_report")

    def mask(p: str) -> str:
        if previous:  # the version before this one (run identity too; first, as a CLI
            p = p.replace(previous, "<id>")  # report shares it with its previous version)
        p = p.replace(report_id, "<id>")
        return version.sub("version <n>", stamp.sub("<time>", p))

    return sorted(mask(p) for p in paragraphs)


def _differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Every leaf path where the two facts documents differ (run fields left aside)."""
    if path in RUN_FIELDS:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{'.'.join((*path, k))}: only in one" for k in sorted(set(a) ^ set(b))]
        for key in sorted(set(a) & set(b)):
            out += _differences(a[key], b[key], (*path, key))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{'.'.join(path)}: {len(a)} items vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += _differences(x, y, (*path, str(i)))
        return out
    return [] if a == b else [f"{'.'.join(path)}: {a!r} != {b!r}"]


def _changes_chapter_text(
    factory: sessionmaker[Session], report_id: str, number: int | None = None
) -> str:
    """The template text of a version's "changes since the previous version" chapter
    (CLI reports of the same product and cut-off share a report id: `number` picks one)."""
    from sqlalchemy import select

    from cerflow.versions.models import ReportVersion

    stmt = select(ReportVersion).where(ReportVersion.report_id == report_id)
    if number is not None:
        stmt = stmt.where(ReportVersion.number == number)
    with factory() as session:
        version = session.scalars(stmt.order_by(ReportVersion.number.desc())).first()
        assert version is not None and version.number >= 2
        return "\n".join(
            str(v["text"]) for k, v in version.narrative.items() if k.startswith("changes")
        )


def _cli_report(settings: Settings, out: Path) -> tuple[str, Path]:
    """`cerflow report` on the stored product, with its own data directory (signal cache)."""
    env = worker_env(settings)
    env["CERFLOW_DATA_DIR"] = str(out / "cli-data")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli_app,
            [
                "report",
                "--device-code",
                SIGNAL_CODE,
                "--offline",
                "--format",
                "json,html",
                "--out",
                str(out / "cli"),
            ],
            env=env,
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output, out / "cli"


def test_job_report_equals_the_cli_report_and_both_are_polished(
    settings: Settings,
    factory: sessionmaker[Session],
    celery_client: Celery,
    llm: ReplayLLM,
    tmp_path: Path,
) -> None:
    settings = _with_llm(settings, llm)

    # A first CLI report makes sure the compared one has a previous version, whatever ran
    # before in the shared store: both compared reports then carry signal statuses and a
    # changes chapter computed the same way (ongoing, not new).
    _cli_report(settings, tmp_path / "warm-up")
    before_cli = len(llm.paragraphs())
    output, cli_dir = _cli_report(settings, tmp_path)
    cli_paragraphs = llm.paragraphs()[before_cli:]
    assert cli_paragraphs, "the CLI report sent nothing to the LLM"
    cli_facts = json.loads((cli_dir / "facts.json").read_text(encoding="utf-8"))
    (cli_html,) = cli_dir.glob("*.html")

    workers = Workers(settings, tmp_path)
    try:
        workers.start("parity", queues="reports")
        with unit_of_work(factory) as session:
            handle = CelerySubmitter(settings, app=celery_client).submit(
                session=session,
                kind="report",
                payload={
                    "product_kind": "device",
                    "product_ref": SIGNAL_CODE,
                    "formats": ["json", "html"],
                },
                requested_by=None,
            )
        job = wait_for(factory, handle.id)
        sent_before_plain = len(llm.paragraphs())
        with unit_of_work(factory) as session:
            plain_handle = CelerySubmitter(settings, app=celery_client).submit(
                session=session,
                kind="report",
                payload={
                    "product_kind": "device",
                    "product_ref": SIGNAL_CODE,
                    "formats": ["json"],
                    "polish": False,  # the writer switched polishing off for this report
                },
                requested_by=None,
            )
        plain = wait_for(factory, plain_handle.id)
    finally:
        workers.stop_all()
    assert plain.state == "succeeded", plain.error
    assert plain.result is not None and plain.result["llm"] == {"enabled": False}
    assert len(llm.paragraphs()) == sent_before_plain  # nothing went to the LLM
    assert job.state == "succeeded", job.error
    assert job.result is not None
    job_dir = settings.data_dir / "reports" / handle.id
    job_facts = json.loads((job_dir / "facts.json").read_text(encoding="utf-8"))
    job_html = job_dir / f"{handle.id}.html"

    # The same facts: every field, apart from the run's id and time.
    assert job_facts["meta"]["report_id"] == handle.id
    assert _differences(cli_facts, job_facts) == []

    # Other tests may have stored versions of the same product first: the job's report is
    # the version right after the CLI's, whatever number that is.
    cli_version = cli_facts["meta"]["version"]
    assert cli_version >= 2 and job_facts["meta"]["version"] == cli_version + 1
    assert job_facts["changes"]["previous_report_id"] == cli_facts["meta"]["report_id"]
    assert job_facts["changes"]["new_signals"] == []  # the same data: nothing opened
    assert job_facts["changes"]["closed_signals"] == []

    # Both narratives polished: the same paragraphs went to the LLM, all accepted (the
    # job's version-2 chapter on changes is sent as well)...
    job_sent = llm.paragraphs()[before_cli + len(cli_paragraphs) : sent_before_plain]
    changes_text = _changes_chapter_text(factory, handle.id)
    job_paragraphs = [p for p in job_sent if p not in changes_text]
    assert len(job_paragraphs) < len(job_sent)
    # The CLI's own changes chapter went to the LLM as well.
    cli_changes = _changes_chapter_text(factory, cli_facts["meta"]["report_id"], cli_version)
    cli_compared = [p for p in cli_paragraphs if p not in cli_changes]
    assert _unnamed(job_paragraphs, job_facts) == _unnamed(cli_compared, cli_facts)
    usage = job.result["llm"]
    n = len(cli_paragraphs)
    assert usage["enabled"] is True and usage["model"] == "replay-model"
    assert (usage["paragraphs"], usage["accepted"], usage["rejected"]) == (
        len(job_sent),
        len(job_sent),
        0,
    )
    assert f"LLM replay-model: {n} paragraphs accepted, 0 rejected" in " ".join(output.split())
    # ...and the polished text is what both documents print.
    for html in (cli_html, job_html):
        text = html.read_text(encoding="utf-8")
        assert "narrative polished by replay-model" in text
        assert text.count(MARK) >= n
