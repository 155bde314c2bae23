"""Optional LLM polishing of the template narrative, guarded by number tracing.

    polish_narrative(narrative, facts, settings, *, client=None) -> Narrative

Why it is built this way: the template text is already correct; an LLM may only make it
read better. Each paragraph is sent alone (so a rejection costs one paragraph, not the
report) to an OpenAI-compatible ``/v1/chat/completions`` endpoint. A rewrite is kept only
if the multiset of its numbers equals the template paragraph's and each of them is one
`Facts` allows; otherwise the template paragraph stays. Tables, captions, bullets and
writer inputs are never sent. Token use comes from the API's ``usage`` object and is
priced with the settings' table; both go into ``Narrative.llm`` and Prometheus.

Polishing is off unless ``llm_base_url`` is set. An API that stays unavailable after the
retries leaves the template narrative untouched and records the failure; the key is sent
only in the Authorization header and never appears in a log line or error.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from cerflow.config import Settings
from cerflow.errors import CerflowError
from cerflow.narrative import metrics
from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.sections import Narrative

log = structlog.get_logger(__name__)

SYSTEM_PROMPT = (
    "You edit paragraphs of a Clinical Evaluation Report for a regulatory reviewer. "
    "Rewrite the paragraph in clear, formal English. Keep every number exactly as written "
    "(same digits, same decimals, same units); do not add, remove or round any number; do "
    "not add facts, claims or interpretations. Answer with the rewritten paragraph only."
)


class LLMError(CerflowError, RuntimeError):
    """The chat-completions API failed for good (after retries) or answered nonsense."""

    status_code = 502


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


@dataclass(slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class ChatClient:
    """A minimal OpenAI-compatible chat-completions client (sync, httpx)."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    attempts: int = 4
    _http: httpx.Client | None = field(default=None, repr=False)

    def _client(self) -> httpx.Client:
        if self._http is None:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._http = httpx.Client(timeout=self.timeout, headers=headers)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return base + "/chat/completions"

    def complete(self, paragraph: str, *, system: str = SYSTEM_PROMPT) -> Completion:
        """One chat completion; `system` lets another guarded use (literature screening
        suggestions) bring its own instructions through the same retries and error rules."""
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": paragraph},
            ],
        }

        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        )
        def post() -> dict[str, Any]:
            resp = self._client().post(self.url, json=body)
            resp.raise_for_status()
            data: dict[str, Any] = resp.json()
            return data

        try:
            data = post()
        except httpx.HTTPStatusError as exc:  # the message names the URL, never the key
            raise LLMError(
                f"chat completions at {self.url} answered HTTP {exc.response.status_code}"
            ) from None
        except httpx.HTTPError as exc:
            raise LLMError(
                f"chat completions at {self.url} unreachable: {type(exc).__name__}"
            ) from None
        except ValueError:
            raise LLMError(f"chat completions at {self.url} answered non-JSON") from None
        try:
            text = str(data["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"chat completions at {self.url}: no choices[0].message") from None
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


def check_rewrite(original: str, rewrite: str, allowed: set[str]) -> str | None:
    """Why a rewrite must be rejected, or None when it keeps exactly the same numbers."""
    if not rewrite.strip():
        return "empty rewrite"
    before = Counter(numbers_in_text(original))
    after = Counter(numbers_in_text(rewrite))
    if before != after:
        added = sorted((after - before).elements())
        dropped = sorted((before - after).elements())
        parts = []
        if added:
            parts.append(f"adds {', '.join(added)}")
        if dropped:
            parts.append(f"drops {', '.join(dropped)}")
        return "numbers changed: " + "; ".join(parts)
    untraceable = sorted({n for n in after if n not in allowed})
    if untraceable:
        return f"numbers not in Facts: {', '.join(untraceable)}"
    return None


def cost(prompt_tokens: int, completion_tokens: int, settings: Settings) -> float:
    return (
        prompt_tokens / 1000.0 * settings.llm_price_per_1k_input
        + completion_tokens / 1000.0 * settings.llm_price_per_1k_output
    )


def client_from_settings(settings: Settings) -> ChatClient | None:
    if not settings.llm_base_url:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return ChatClient(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key)


def polish_narrative(
    narrative: Narrative,
    facts: Facts,
    settings: Settings,
    *,
    client: ChatClient | None = None,
) -> Narrative:
    """A copy of `narrative` with accepted rewrites; the original is not modified."""
    own = client is None
    client = client or client_from_settings(settings)
    if client is None:
        out = copy.deepcopy(narrative)
        out.llm = {"enabled": False}
        return out
    out = copy.deepcopy(narrative)
    allowed = allowed_numbers(facts)
    model = client.model
    stats: dict[str, Any] = {
        "enabled": True,
        "model": model,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "paragraphs": 0,
        "accepted": 0,
        "rejected": 0,
        "failed": 0,
        "rejections": [],
    }
    try:
        for section in out.sections:
            for block in section.blocks:
                if block.kind != "paragraph" or not block.text.strip():
                    continue
                stats["paragraphs"] += 1
                try:
                    done = client.complete(block.text)
                except LLMError as exc:
                    stats["failed"] += 1
                    stats["error"] = str(exc)
                    metrics.LLM_PARAGRAPHS.labels(model, "failed").inc()
                    log.warning("llm_paragraph_failed", section=section.id, error=str(exc))
                    continue
                stats["prompt_tokens"] += done.prompt_tokens
                stats["completion_tokens"] += done.completion_tokens
                metrics.LLM_TOKENS.labels(model, "prompt").inc(done.prompt_tokens)
                metrics.LLM_TOKENS.labels(model, "completion").inc(done.completion_tokens)
                metrics.LLM_COST.labels(model).inc(
                    cost(done.prompt_tokens, done.completion_tokens, settings)
                )
                reason = check_rewrite(block.text, done.text, allowed)
                if reason is None:
                    block.text = " ".join(done.text.split())
                    stats["accepted"] += 1
                    metrics.LLM_PARAGRAPHS.labels(model, "accepted").inc()
                else:
                    stats["rejected"] += 1
                    stats["rejections"].append({"section": section.id, "reason": reason})
                    metrics.LLM_PARAGRAPHS.labels(model, "rejected").inc()
    finally:
        if own:
            client.close()
    stats["cost_usd"] = round(cost(stats["prompt_tokens"], stats["completion_tokens"], settings), 8)
    out.llm = stats
    log.info(
        "llm_polish_done",
        model=model,
        paragraphs=stats["paragraphs"],
        accepted=stats["accepted"],
        rejected=stats["rejected"],
        failed=stats["failed"],
        prompt_tokens=stats["prompt_tokens"],
        completion_tokens=stats["completion_tokens"],
    )
    return out
