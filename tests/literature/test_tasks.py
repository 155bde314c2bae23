"""The "literature" job: runs the protocol through the job runner and stores the search."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cerflow.config import Environment, Settings
from cerflow.jobs import service as jobs
from cerflow.jobs.models import Job
from cerflow.jobs.registry import PIPELINES
from cerflow.jobs.runner import execute
from cerflow.literature import service
from cerflow.literature.models import LiteratureSearch
from tests.literature.test_service import PROTOCOL
from tests.replay.literature_server import (
    LiteratureReplayServer,
    real_europepmc_results,
    real_pubmed_articles,
)


def _settings(tmp_path: Path, srv: LiteratureReplayServer) -> Settings:
    return Settings(
        environment=Environment.TESTING,
        data_dir=tmp_path,
        database_url="",
        redis_url=None,
        secret_key=SecretStr("embedded-test-secret-" + "z" * 40),
        ncbi_base_url=srv.ncbi_url,
        europepmc_base_url=srv.europepmc_url,
        ctgov_base_url=srv.ctgov_url,
        literature_max_retries=1,
    )


def _job(factory: sessionmaker[Session], ref: str) -> str:
    with factory() as session:
        job, _ = jobs.create(
            session=session, type="literature", params={"product_ref": ref}, owner_id=None
        )
        session.commit()
        return job.id


def test_job_runs_the_protocol_and_stores_the_search(sqlite_engine: Engine, tmp_path: Path) -> None:
    factory = sessionmaker(sqlite_engine)
    with factory() as s:
        service.set_protocol(session=s, product_ref="atorvastatin", data=PROTOCOL, user_id=None)
        s.commit()
    with LiteratureReplayServer(
        pubmed=real_pubmed_articles(), europepmc=real_europepmc_results()
    ) as srv:
        job_id = _job(factory, "ATORVASTATIN")
        outcome = execute(
            job_id,
            settings=_settings(tmp_path, srv),
            engine=sqlite_engine,
            factory=factory,
            pipelines=PIPELINES,
        )
    assert outcome.state == "succeeded"
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.result is not None
        assert job.result["identified"] == 29
        assert job.result["databases"]["pubmed"] == {"total": 4, "fetched": 4, "capped": False}
        search = s.scalars(select(LiteratureSearch)).one()
        assert search.id == job.result["search_id"]


def test_job_without_protocol_fails_with_the_reason(sqlite_engine: Engine, tmp_path: Path) -> None:
    factory = sessionmaker(sqlite_engine)
    with LiteratureReplayServer() as srv:
        job_id = _job(factory, "DQA")
        outcome = execute(
            job_id,
            settings=_settings(tmp_path, srv),
            engine=sqlite_engine,
            factory=factory,
            pipelines=PIPELINES,
        )
    assert outcome.state == "failed"
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and "no literature protocol for DQA" in (job.error or "")
