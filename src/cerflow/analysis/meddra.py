"""MedDRA roll-up: event terms coded to PTs, grouped by primary SOC and rolled up to HLTs.

Pure functions on frames; the hierarchy comes in as frames read from the user's licensed
files (`cerflow.store.meddra.read_meddra`), never from the package:

- ``terms`` (term, pt_code): every PT and LLT name, case-folded as stored events are;
- ``primary`` (pt_code, pt_name, soc_code, soc_name): each PT's primary SOC;
- ``pt_hlt`` (pt_code, hlt_code, hlt_name): every HLT a PT sits under (a PT can sit under
  more than one HLT when it belongs to several SOCs).

Events are ``(report_id, event)`` frames, the `disproportionality` contract. Counts are of
unique reports: a report with two PTs of the same SOC (or HLT) counts once for it.

Notes
-----
An event term that is neither a PT nor an LLT of the release (a spelling from another
MedDRA version, a verbatim term) is *not coded*: it is left out of the SOC and HLT counts
and listed, never guessed.

References
----------
MedDRA Maintenance and Support Services Organization (MSSO). MedDRA Distribution File
Format Document (ASCII files); Introductory Guide to MedDRA (primary SOC allocation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"meddra: {what} frame lacks column(s) {', '.join(missing)}")


def code_events(events: pl.DataFrame, terms: pl.DataFrame) -> pl.DataFrame:
    """(report_id, event, pt_code) with pt_code null for a term MedDRA does not hold."""
    _require(events, ["report_id", "event"], "events")
    _require(terms, ["term", "pt_code"], "terms")
    return (
        events.select("report_id", "event")
        .unique()
        .join(terms.select(pl.col("term").alias("event"), "pt_code"), on="event", how="left")
    )


@dataclass(frozen=True)
class SocRollup:
    """The product's events by primary SOC.

    `socs`: soc_code, soc_name, reports (unique reports with >= 1 term in the SOC),
    percent (of `n_reports`), terms (distinct terms of the product in the SOC), sorted by
    reports (descending) then name. `product_terms` distinct terms, `coded_terms` of them
    found in MedDRA, `uncoded` the others (sorted).
    """

    socs: pl.DataFrame
    n_reports: int
    product_terms: int
    coded_terms: int
    uncoded: list[str]


def soc_rollup(
    events: pl.DataFrame, n_reports: int, terms: pl.DataFrame, primary: pl.DataFrame
) -> SocRollup:
    """Group the product's events (`events`, its reports only) by primary SOC."""
    _require(primary, ["pt_code", "soc_code", "soc_name"], "primary")
    coded = code_events(events, terms)
    all_terms = coded["event"].unique()
    uncoded = sorted(coded.filter(pl.col("pt_code").is_null())["event"].unique().to_list())
    with_soc = coded.filter(pl.col("pt_code").is_not_null()).join(
        primary.select("pt_code", "soc_code", "soc_name"), on="pt_code", how="inner"
    )
    socs = (
        with_soc.group_by("soc_code", "soc_name")
        .agg(
            pl.col("report_id").n_unique().cast(pl.Int64).alias("reports"),
            pl.col("event").n_unique().cast(pl.Int64).alias("terms"),
        )
        .with_columns((pl.col("reports") * 100.0 / max(n_reports, 1)).alias("percent"))
        .select("soc_code", "soc_name", "reports", "percent", "terms")
        .sort(["reports", "soc_name"], descending=[True, False])
    )
    return SocRollup(
        socs=socs,
        n_reports=n_reports,
        product_terms=all_terms.len(),
        coded_terms=all_terms.len() - len(uncoded),
        uncoded=uncoded,
    )


def hlt_events(events: pl.DataFrame, terms: pl.DataFrame, pt_hlt: pl.DataFrame) -> pl.DataFrame:
    """(report_id, event = HLT name), unique: each report's events rolled up to HLTs.

    The result is a `disproportionality` events frame, so the same statistics run at HLT
    level; uncoded terms drop out.
    """
    _require(pt_hlt, ["pt_code", "hlt_name"], "pt_hlt")
    coded = code_events(events, terms).filter(pl.col("pt_code").is_not_null())
    return (
        coded.join(pt_hlt.select("pt_code", "hlt_name"), on="pt_code", how="inner")
        .select("report_id", pl.col("hlt_name").alias("event"))
        .unique()
        .sort(["report_id", "event"])
    )
