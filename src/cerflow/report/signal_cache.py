"""File cache of the database-wide disproportionality result, one entry per data version.

    cache = SignalCache(settings.data_dir / "cache" / "signals",
                        max_bytes=int(settings.signal_cache_max_gb * 1e9))
    key = signal_cache_key(engine_url=..., kind=..., since=..., until=..., members=...,
                           label=..., thresholds=..., version=rq.StoreVersion(...))
    hit = cache.get(key, product=label)       # CachedSignals | None
    cache.put(key, result)                    # after computing it

Why it exists: a CER compares the product with every report of the same kind in the store,
so each report re-read the whole background (10^5..10^6 rows) and re-fitted the GPS prior
over every product-event pair, although neither changes until new data land. The full
all-pairs table (every statistic, every flag), N, the fitted prior and the notes are stored
once per data version; a later report of any product of the same kind reads only its own
rows back. Nothing is recomputed differently: the stored floats are the computed float64
values (Parquet keeps them bit for bit), so a hit gives exactly the numbers of a miss.

What the key covers (any change makes a new entry, old ones are pruned):
- the store: the database URL (without password), the number/last id/sha256/retrieval time
  of its source snapshots, and per snapshot the number of reports of this kind in the
  window; every load writes a snapshot row, so new data always change the key;
- the question: kind, since/until, the product labels merged into one (device codes) and
  the signal thresholds (flags depend on them);
- the code: the source of the analysis and query modules that produce the numbers, and the
  numpy/scipy/polars versions.
Entries are written to a temporary name and renamed, so concurrent reports never read a
half-written file; a broken entry is treated as a miss.

Beside the entries, `totals/` keeps the kind totals of each store version (the data cut-off
and reports per snapshot, `cerflow.store.product_queries.KindTotals`): on a full-history
store those two whole-store scans cost more than all of a product's own reads, and they
key this very cache, so a hit would otherwise still scan every report of the kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from cerflow.analysis import disproportionality as dp_mod
from cerflow.analysis import gps as gps_mod
from cerflow.analysis import thresholds as thresholds_mod
from cerflow.analysis.disproportionality import ALL_METHODS, SignalResult
from cerflow.analysis.gps import GpsPrior
from cerflow.analysis.thresholds import SignalThresholds
from cerflow.store import product_queries as rq

FORMAT = 1
KEEP_ENTRIES = 8  # per cache directory: a few kinds/windows, not a history
KEEP_TOTALS = 32  # small JSON files: a few store versions x kinds x windows


@dataclass(frozen=True, slots=True)
class CachedSignals:
    """What `_signals` needs from the all-pairs result: the product's rows and the totals."""

    result: SignalResult  # `table` holds the product's rows only


def _code_fingerprint() -> str:
    h = hashlib.sha256()
    for mod in (dp_mod, gps_mod, thresholds_mod, rq):
        path = getattr(mod, "__file__", None)
        h.update(Path(path).read_bytes() if path else mod.__name__.encode())
    for dist in ("numpy", "scipy", "polars"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            h.update(dist.encode())
    return h.hexdigest()


_CODE: str | None = None


def _code() -> str:
    global _CODE
    if _CODE is None:
        _CODE = _code_fingerprint()
    return _CODE


def signal_cache_key(
    *,
    engine_url: str,
    kind: str,
    since: dt.date | None,
    until: dt.date | None,
    members: Iterable[str],
    label: str,
    thresholds: SignalThresholds,
    version: rq.StoreVersion,
    in_store: dict[int, int],
) -> str:
    """A hex digest naming one all-pairs result (see the module docstring for its parts)."""
    merged = sorted(set(members))
    relabel = None if merged == [label] else {"members": merged, "label": label}
    parts = {
        "format": FORMAT,
        "code": _code(),
        "db": engine_url,
        "kind": kind,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "relabel": relabel,
        "thresholds": dataclasses.asdict(thresholds),
        "store": dataclasses.asdict(version),
        "in_store": sorted(in_store.items()),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _prior_dict(prior: GpsPrior | None) -> dict[str, Any] | None:
    return None if prior is None else dataclasses.asdict(prior)


class SignalCache:
    """Parquet + JSON entries under one directory (created on first write)."""

    def __init__(self, directory: Path, *, max_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes  # None: only the entry count bounds the cache

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.parquet", self.directory / f"{key}.json"

    def get(self, key: str, *, product: str) -> CachedSignals | None:
        """The cached result with only `product`'s rows, or None on a miss."""
        table_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                return None
            table = pl.scan_parquet(table_path).filter(pl.col("product") == product).collect()
        except (OSError, ValueError, pl.exceptions.PolarsError):
            return None
        prior = GpsPrior(**meta["prior"]) if meta.get("prior") else None
        thresholds = SignalThresholds(**meta["thresholds"])
        result = SignalResult(
            table=table,
            n_reports=int(meta["n_reports"]),
            prior=prior,
            methods=tuple(meta["methods"]),
            thresholds=thresholds,
            ic_method=meta["ic_method"],
            n_strata=int(meta["n_strata"]),
            notes=tuple(meta["notes"]),
        )
        now = dt.datetime.now().timestamp()
        os.utime(meta_path, (now, now))  # recently used: kept by the pruning below
        return CachedSignals(result=result)

    def put(self, key: str, result: SignalResult) -> None:
        """Store `result` (the full all-pairs table); failures only cost the speed-up."""
        if result.methods != ALL_METHODS:
            return
        table_path, meta_path = self._paths(key)
        meta = {
            "format": FORMAT,
            "key": key,
            "n_reports": result.n_reports,
            "prior": _prior_dict(result.prior),
            "methods": list(result.methods),
            "thresholds": dataclasses.asdict(result.thresholds),
            "ic_method": result.ic_method,
            "n_strata": result.n_strata,
            "notes": list(result.notes),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp_table = table_path.with_name(f".{table_path.name}.{os.getpid()}.tmp")
            tmp_meta = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
            result.table.write_parquet(tmp_table, compression="zstd", statistics=True)
            tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp_table, table_path)  # the table first: meta marks a complete entry
            os.replace(tmp_meta, meta_path)
        except OSError:
            return
        self._prune()

    def _totals_path(self, key: str) -> Path:
        return self.directory / "totals" / f"{key}.json"

    def get_totals(self, key: str) -> rq.KindTotals | None:
        """The kind totals stored under `key` (`product_data.totals_key`), or None."""
        path = self._totals_path(key)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                return None
            cutoff = dt.date.fromisoformat(meta["cutoff"]) if meta["cutoff"] else None
            in_store = {int(sid): int(n) for sid, n in meta["in_store"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return rq.KindTotals(cutoff, in_store)

    def put_totals(self, key: str, totals: rq.KindTotals) -> None:
        """Store `totals` under `key`; failures only cost the speed-up."""
        path = self._totals_path(key)
        meta = {
            "format": FORMAT,
            "key": key,
            "cutoff": totals.cutoff.isoformat() if totals.cutoff else None,
            "in_store": sorted(totals.in_store.items()),
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, path)
            old = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-KEEP_TOTALS]:
                stale.unlink(missing_ok=True)
        except OSError:
            return

    def _prune(self) -> None:
        """Keep the most recently used entries within `KEEP_ENTRIES` and `max_bytes`.

        The newest entry stays even when it alone exceeds the budget: it is the one the
        next report of this store version reads, and dropping it would make every report
        a miss (minutes at full-history scale) without freeing the disk for long."""
        metas = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        used = 0
        for rank, meta in enumerate(metas):
            paths = self._paths(meta.stem)
            size = sum(p.stat().st_size for p in paths if p.exists())
            over_budget = self.max_bytes is not None and used + size > self.max_bytes
            if rank >= KEEP_ENTRIES or (rank > 0 and over_budget):
                for path in paths:
                    path.unlink(missing_ok=True)
            else:
                used += size
