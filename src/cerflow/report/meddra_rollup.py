"""The MedDRA roll-up of a CER (issue 11 item 8): `MeddraFacts` from the user's files.

    tables = read_meddra(settings.meddra_dir)                    # cerflow.store.meddra
    facts.meddra = meddra_facts(data, tables, products, events, thresholds=...)

Without files (`meddra_dir` unset) the facts say the roll-up was not made and why
(`cerflow.report.compute.meddra_not_supplied`); device reports are coded in FDA problem
codes, not MedDRA, so a device report says that instead. With files: the product's event
terms by primary SOC, and the disproportionality of every product-HLT pair against the same
background as the PT-level analysis (`cerflow.analysis.meddra.hlt_events`, then
`signals_from_background`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from cerflow.analysis import meddra as md
from cerflow.analysis.disproportionality import for_product
from cerflow.analysis.thresholds import SignalThresholds
from cerflow.narrative.facts import MeddraFacts, MeddraSocRow
from cerflow.report.compute import _signal_row, meddra_not_supplied, signals_from_background

if TYPE_CHECKING:
    from cerflow.store.meddra import MeddraTables
    from cerflow.store.product_data import ProductData

UNCODED_SHOWN = 10


def meddra_facts(
    data: ProductData,
    tables: MeddraTables | None,
    background: tuple[pl.DataFrame, pl.DataFrame] | None,
    *,
    thresholds: SignalThresholds,
) -> MeddraFacts:
    """Events by primary SOC and HLT-level signals; `background` is (products, events) of
    the PT-level analysis (None: HLT signals are not computed, and the statement says so)."""
    if data.kind != "drug" or tables is None:
        return meddra_not_supplied(data.kind)
    events = data.events.select("report_id", pl.col("term").alias("event"))
    n_reports = data.reports.height
    roll = md.soc_rollup(events, n_reports, tables.terms, tables.primary)
    socs = [
        MeddraSocRow(
            soc=str(r["soc_name"]),
            reports=int(r["reports"]),
            percent=round(float(r["percent"]), 1),
            terms=int(r["terms"]),
        )
        for r in roll.socs.iter_rows(named=True)
    ]
    version = f" ({tables.version})" if tables.version else ""
    statement = (
        f"Event terms were coded with the user's licensed MedDRA files{version}: each "
        "preferred term counts under its primary SOC, and disproportionality was also "
        "computed at High Level Term (HLT) level against the drug reports of the local store "
        "(the HLT counts of the whole FAERS database are not public)."
    )
    hlt_signals = []
    no_background: list[str] = []
    pairs = 0
    hlt_background: int | None = None
    if background is None:
        statement += " HLT-level disproportionality was not computed: no background."
    else:
        products, bg_events = background
        hlt = md.hlt_events(bg_events, tables.terms, tables.pt_hlt)
        outcome = signals_from_background(
            products, hlt, members=data.members, label=data.label, thresholds=thresholds
        )
        if outcome.result is None:
            statement += " HLT-level disproportionality was not estimable: " + "; ".join(
                outcome.notes
            )
        else:
            hlt_background = outcome.result.n_reports
            rows = for_product(outcome.result, data.label)
            pairs = rows.height
            items = [_signal_row(r, str(r["event"])) for r in rows.iter_rows(named=True)]
            hlt_signals = sorted(
                (x for x in items if x.flags and min(x.a, x.b, x.c, x.d) > 0),
                key=lambda x: (-(x.eb05 or 0.0), -x.a, x.event),
            )
            no_background = [
                x.event
                for x in sorted(items, key=lambda x: (-x.a, x.event))
                if x.c == 0 and x.a >= thresholds.min_count
            ]
    return MeddraFacts(
        available=True,
        statement=statement,
        version=tables.version,
        product_terms=roll.product_terms,
        coded_terms=roll.coded_terms,
        uncoded=roll.uncoded[:UNCODED_SHOWN],
        uncoded_terms=len(roll.uncoded),
        socs=socs,
        hlt_pairs_tested=pairs,
        hlt_signals=hlt_signals,
        hlt_no_background=no_background,
        hlt_background_reports=hlt_background,
    )
