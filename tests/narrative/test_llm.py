"""LLM polishing against a local OpenAI-compatible replay server (chat completions + usage)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from cerflow.config import Settings
from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.llm import check_rewrite, polish_narrative
from cerflow.narrative.render import write_narrative
from cerflow.narrative.sections import Block, Narrative, Section
from tests.replay.llm_server import API_KEY, ReplayLLM, Rewrite


@pytest.fixture
def llm() -> Iterator[ReplayLLM]:
    server = ReplayLLM()
    yield server
    server.close()


def _settings(url: str) -> Settings:
    return Settings(
        llm_base_url=url,
        llm_api_key=SecretStr(API_KEY),
        llm_model="replay-model",
        llm_price_per_1k_input=0.5,
        llm_price_per_1k_output=1.5,
    )


def _small_narrative(facts: Facts) -> Narrative:
    v = facts.volumes
    return Narrative(
        sections=[
            Section(
                id="s",
                number="1",
                title="Summary",
                level=1,
                blocks=[
                    Block(kind="paragraph", text=f"There were {v.total_reports} reports."),
                    Block(kind="paragraph", text=f"Of them {v.serious} were serious."),
                    Block(kind="writer_input", text="Give the sales figures."),
                    Block(kind="paragraph", text=f"{v.deaths} report described a death."),
                ],
            )
        ]
    )


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_faithful_rewrite_is_accepted_and_costed(llm: ReplayLLM, drug_facts: Facts) -> None:
    llm.rewrite = lambda text: "In short, " + text[0].lower() + text[1:]
    before_tokens = _metric("cerflow_llm_tokens_total", {"model": "replay-model", "kind": "prompt"})
    before_ok = _metric(
        "cerflow_llm_paragraphs_total", {"model": "replay-model", "outcome": "accepted"}
    )
    original = _small_narrative(drug_facts)
    out = polish_narrative(original, drug_facts, _settings(llm.url))
    texts = [b.text for b in out.sections[0].blocks]
    assert texts[0] == "In short, there were 5 reports."
    assert texts[2] == "Give the sales figures."  # writer inputs are never sent
    assert original.sections[0].blocks[0].text == "There were 5 reports."  # not mutated
    assert len(llm.requests) == 3
    assert out.llm["accepted"] == 3 and out.llm["rejected"] == 0
    # Hand computation: 3 calls x 120 prompt and 45 completion tokens at 0.5 / 1.5 per 1k.
    assert (out.llm["prompt_tokens"], out.llm["completion_tokens"]) == (360, 135)
    assert out.llm["cost_usd"] == pytest.approx(360 / 1000 * 0.5 + 135 / 1000 * 1.5)
    assert out.llm["model"] == "replay-model"
    assert _metric(
        "cerflow_llm_tokens_total", {"model": "replay-model", "kind": "prompt"}
    ) - before_tokens == pytest.approx(360)
    assert _metric(
        "cerflow_llm_paragraphs_total", {"model": "replay-model", "outcome": "accepted"}
    ) - before_ok == pytest.approx(3)
    req = llm.requests[0]
    assert req["auth"] == f"Bearer {API_KEY}"
    assert req["body"]["model"] == "replay-model"
    assert req["body"]["messages"][-1]["content"] == "There were 5 reports."


def _bump_first_number(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group(0)) + 1), text, count=1)


def _drop_first_number(text: str) -> str:
    return re.sub(r"\s*\d[\d,.]*", "", text, count=1)


@pytest.mark.parametrize("rewrite", [_bump_first_number, _drop_first_number])
def test_rewrite_changing_a_number_is_rejected(
    llm: ReplayLLM, drug_facts: Facts, rewrite: Rewrite
) -> None:
    llm.rewrite = rewrite
    original = _small_narrative(drug_facts)
    out = polish_narrative(original, drug_facts, _settings(llm.url))
    assert [b.text for b in out.sections[0].blocks] == [b.text for b in original.sections[0].blocks]
    assert out.llm["accepted"] == 0 and out.llm["rejected"] == 3
    assert out.llm["prompt_tokens"] == 360  # rejected rewrites are paid for all the same
    assert all("numbers changed" in r["reason"] for r in out.llm["rejections"])


def test_check_rewrite_rules(drug_facts: Facts) -> None:
    allowed = allowed_numbers(drug_facts)
    assert check_rewrite("5 reports, 2 serious", "2 serious among 5 reports", allowed) is None
    assert "adds 6" in str(check_rewrite("5 reports", "6 reports", allowed))
    assert "drops 2" in str(check_rewrite("5 of 2", "5", allowed))
    assert "adds 5" in str(check_rewrite("5 reports", "5 reports in 5 files", allowed))
    # Same numbers on both sides, but one the template should never have printed.
    assert "not in Facts" in str(check_rewrite("77777 x", "x 77777", allowed))
    assert check_rewrite("5", "  ", allowed) == "empty rewrite"


def test_full_narrative_llm_path_is_traceable(llm: ReplayLLM, drug_facts: Facts) -> None:
    llm.rewrite = lambda text: text.replace("reports", "case reports")
    out = polish_narrative(write_narrative(drug_facts), drug_facts, _settings(llm.url))
    assert out.llm["accepted"] == out.llm["paragraphs"] > 10
    allowed = allowed_numbers(drug_facts)
    stray = [n for t in out.all_texts() for n in numbers_in_text(t) if n not in allowed]
    assert stray == []
    assert any("case reports" in t for t in out.all_texts())


def test_retries_429_then_succeeds(llm: ReplayLLM, drug_facts: Facts) -> None:
    llm.fail_first = [429, 503]
    out = polish_narrative(_small_narrative(drug_facts), drug_facts, _settings(llm.url))
    assert out.llm["accepted"] == 3 and out.llm["failed"] == 0
    assert len(llm.requests) == 5


def test_persistent_failure_keeps_template_and_hides_key(
    llm: ReplayLLM, drug_facts: Facts, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.fail_first = [500] * 100
    original = _small_narrative(drug_facts)
    out = polish_narrative(original, drug_facts, _settings(llm.url))
    assert [b.text for b in out.sections[0].blocks] == [b.text for b in original.sections[0].blocks]
    assert out.llm["failed"] == 3 and out.llm["accepted"] == 0
    assert "HTTP 500" in out.llm["error"]
    captured = capsys.readouterr()
    assert API_KEY not in json.dumps(out.llm)
    assert API_KEY not in captured.out + captured.err


def test_unreachable_api_fails_soft(drug_facts: Facts) -> None:
    out = polish_narrative(
        _small_narrative(drug_facts), drug_facts, _settings("http://127.0.0.1:9")
    )
    assert out.llm["failed"] == 3 and "unreachable" in out.llm["error"]
    assert API_KEY not in out.llm["error"]


def test_off_without_base_url(drug_facts: Facts) -> None:
    out = polish_narrative(_small_narrative(drug_facts), drug_facts, Settings(llm_base_url=None))
    assert out.llm == {"enabled": False}
