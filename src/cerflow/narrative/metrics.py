"""Prometheus counters for LLM polishing: what it costs and how often its text is kept."""

from __future__ import annotations

from prometheus_client import Counter

LLM_TOKENS = Counter(
    "cerflow_llm_tokens_total", "Tokens used by narrative polishing", ["model", "kind"]
)
LLM_COST = Counter(
    "cerflow_llm_cost_usd_total",
    "Cost of narrative polishing from the settings' price table",
    ["model"],
)
LLM_PARAGRAPHS = Counter(
    "cerflow_llm_paragraphs_total",
    "Paragraphs sent for polishing, by outcome (accepted, rejected, failed)",
    ["model", "outcome"],
)
