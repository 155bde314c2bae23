"""The ingest job: import one product's openFDA data into the store.

Idempotent: the loaders upsert, so a re-run (a retry, a re-send by the sweeper) changes
only what changed at openFDA. Registered in `cerflow.jobs.registry` as job type "ingest";
the watched-product refresh (`cerflow.alerts.tasks`) runs it first.
"""

from __future__ import annotations

from typing import Any

from cerflow.ingest.openfda import datasets, run_dataset
from cerflow.jobs import params
from cerflow.jobs.context import JobContext, JobResult
from cerflow.jobs.errors import PermanentJobError
from cerflow.sources import openfda as ofda


def run_ingest(ctx: JobContext) -> JobResult:
    kind, ref = params.product(ctx.params)
    ctx.fault("start")
    try:
        plan = datasets(
            ref if kind == "drug" else None,
            [ref] if kind == "device" else [],
            params.date(ctx.params, "since"),
            params.date(ctx.params, "until"),
            bool(ctx.params.get("recalls", True)),
        )
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from None
    loaded: dict[str, Any] = {}
    with ofda.OpenFDAClient.from_settings(ctx.settings) as client:
        for i, ds in enumerate(plan):
            ctx.progress(5 + 90 * i // max(1, len(plan)), f"fetching {ds.name}")
            total, stats = run_dataset(client, ctx.engine, ds)
            loaded[ds.name] = {
                "matched": total,
                "inserted": stats.inserted,
                "updated": stats.updated,
                "unchanged": stats.unchanged,
                "rejected": stats.rejected,
            }
    ctx.fault("end")
    return {"datasets": loaded}, None
