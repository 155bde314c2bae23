"""The literature search job: run a product's current protocol and store the search.

Registered in `cerflow.jobs.registry` as job type "literature" (queue `ingest`: it waits
on outside services like the imports). A failing database stores nothing, so a retry
(429/5xx exhausted inside the client, a network failure) simply runs the search again; a
missing protocol or a malformed answer fails the job at once with its message.
"""

from __future__ import annotations

from typing import Any

from cerflow.errors import CerflowError
from cerflow.jobs.context import JobContext, JobResult
from cerflow.jobs.errors import PermanentJobError
from cerflow.literature import service
from cerflow.literature.schemas import ProtocolError
from cerflow.sources.base import SourceFormatError
from cerflow.sources.ctgov import ClinicalTrialsClient
from cerflow.sources.europepmc import EuropePMCClient
from cerflow.sources.literature_base import SearchResult
from cerflow.sources.pubmed import PubMedClient
from cerflow.unit_of_work import unit_of_work


def run_literature_search(ctx: JobContext) -> JobResult:
    ref = str(ctx.params.get("product_ref") or "").strip()
    if not ref:
        raise PermanentJobError("literature search job without product_ref")
    clients: dict[str, PubMedClient | EuropePMCClient | ClinicalTrialsClient] = {
        "pubmed": PubMedClient.from_settings(ctx.settings),
        "europepmc": EuropePMCClient.from_settings(ctx.settings),
        "ctgov": ClinicalTrialsClient.from_settings(ctx.settings),
    }
    done: list[str] = []

    def progress(db: str, result: SearchResult) -> None:
        done.append(db)
        ctx.progress(min(90, 10 + 30 * len(done)), f"{db}: {len(result.records)} records")

    try:
        ctx.progress(5, "searching")
        with unit_of_work(ctx.factory) as session:
            search = service.run_search(
                session=session,
                product_ref=ref,
                clients=clients,
                user_id=ctx.lease.owner_id,
                progress=progress,
            )
            result: dict[str, Any] = {
                "search_id": search.id,
                "identified": search.identified,
                "duplicates_removed": search.duplicates_removed,
                "unique_records": search.unique_records,
                "screening_carried_over": search.counts.get("screening_carried_over", {}),
                "databases": {
                    db: {k: c[k] for k in ("total", "fetched", "capped")}
                    for db, c in search.counts["databases"].items()
                },
            }
    except (LookupError, ProtocolError, SourceFormatError, ValueError) as exc:
        raise PermanentJobError(str(exc)) from None
    except CerflowError as exc:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and 400 <= status < 500 and status != 429:
            raise PermanentJobError(str(exc)) from None
        raise
    finally:
        for client in clients.values():
            client.close()
    return result, None
