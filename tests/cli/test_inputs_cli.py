"""`cerflow inputs validate|schema` and `cerflow report --inputs`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.cli.inputs import write_examples
from cerflow.narrative.facts import Facts
from tests.cli.test_report_cli import store_env  # noqa: F401  (fixture)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILLED = EXAMPLES / "cer-inputs-example-LZG.yaml"


def test_validate_filled_and_empty() -> None:
    ok = CliRunner().invoke(app, ["inputs", "validate", str(FILLED)])
    assert ok.exit_code == 0, ok.output
    assert "valid CER inputs (schema_version 1)" in ok.output
    assert "Complete" in ok.output
    empty = CliRunner().invoke(
        app, ["inputs", "validate", str(EXAMPLES / "cer-inputs-template.yaml")]
    )
    assert empty.exit_code == 0
    assert "Not yet a Clinical Evaluation Report; missing: device/product description" in (
        " ".join(empty.output.split())
    )


def test_validate_lists_every_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schema_version: 1\nevaluators:\n  - name: X\n    qualification: MD\n"
        "    cv_reference: CV-1\nintended_purpos: typo\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["inputs", "validate", str(bad)])
    assert result.exit_code == 2
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "error: bad.yaml: invalid CER inputs" in lines
    assert "evaluators[0].declaration_of_interest: required" in lines
    assert any(line.startswith("intended_purpos: unknown field") for line in lines)


def test_schema_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inputs", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["properties"]["schema_version"]["const"] == 1
    target = tmp_path / "schema.json"
    assert CliRunner().invoke(app, ["inputs", "schema", "--out", str(target)]).exit_code == 0
    assert json.loads(target.read_text())["required"] == ["schema_version"]


def test_write_examples_are_the_repository_files(tmp_path: Path) -> None:
    written = write_examples(tmp_path / "ex")
    for path in written.values():
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes()


def test_report_with_inputs(store_env: Path) -> None:  # noqa: F811
    out = store_env / "r"
    args = ["report", "--device-code", "LZG", "--offline", "--format", "json,html"]
    result = CliRunner().invoke(app, [*args, "--inputs", str(FILLED), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "facts.json").read_text()
    assert Facts.model_validate_json(text).to_json() == text  # inputs round-trip in facts.json
    facts = json.loads(text)
    assert facts["meta"]["title"] == "Clinical Evaluation Report"
    assert facts["cer"]["is_cer"] is True
    assert facts["cer"]["inputs"]["evaluators"][1]["name"] == "B. Sample, MSc"
    assert facts["cer"]["next_update"]["interval_months"] == 12
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert 'data-input="intended_purpose"' in html


def test_report_refuses_bad_inputs_before_any_work(store_env: Path) -> None:  # noqa: F811
    bad = store_env / "bad.json"
    bad.write_text('{"schema_version": 2}', encoding="utf-8")
    out = store_env / "r2"
    args = ["report", "--device-code", "LZG", "--offline", "--inputs", str(bad), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--inputs bad.json: invalid CER inputs" in result.output
    assert "schema_version: this cerflow reads schema_version 1, not 2" in result.output
    assert not out.exists()


def test_report_refuses_inputs_of_another_product(store_env: Path) -> None:  # noqa: F811
    out = store_env / "r3"
    args = ["report", "--device-code", "DQA", "--offline", "--inputs", str(FILLED)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2
    assert "product: these inputs are for 'LZG', not 'DQA'" in " ".join(result.output.split())
    assert not out.exists()
