"""CER inputs schema: the examples validate; each invalid case names the field and why."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cerflow.cer_inputs.schemas import (
    CER_REQUIRED,
    CerInputsError,
    gs1_check_digit,
    json_schema,
    load_inputs,
    missing_for_cer,
    parse_inputs,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PACKAGED = ROOT / "src" / "cerflow" / "cer_inputs" / "examples"
FILLED = EXAMPLES / "cer-inputs-example-LZG.yaml"
TEMPLATE = EXAMPLES / "cer-inputs-template.yaml"


def filled() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FILLED.read_text(encoding="utf-8"))
    return data


def test_repository_examples_are_the_packaged_ones() -> None:
    for name in ("cer-inputs-example-LZG.yaml", "cer-inputs-template.yaml"):
        assert (EXAMPLES / name).read_bytes() == (PACKAGED / name).read_bytes(), name


def test_filled_example_is_a_complete_cer() -> None:
    inputs = load_inputs(FILLED)
    assert inputs.schema_version == 1
    assert missing_for_cer(inputs) == []
    assert [e.name for e in inputs.evaluators] == ["Dr. A. Example", "B. Sample, MSc"]
    assert inputs.change_history[0].version == "1"  # YAML's number read as text
    assert inputs.equivalence is not None and inputs.equivalence.claimed is False


def test_empty_template_validates_and_misses_every_cer_input() -> None:
    inputs = load_inputs(TEMPLATE)
    assert missing_for_cer(inputs) == [label for _, label in CER_REQUIRED]
    assert missing_for_cer(None) == [label for _, label in CER_REQUIRED]


def test_json_file_reads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "cer.json"
    path.write_text(json.dumps(filled(), default=str), encoding="utf-8")
    assert load_inputs(path) == load_inputs(FILLED)


def test_gs1_check_digit_against_published_gtins() -> None:
    # GS1's own example GTIN-14 09506000134352 (GS1 Digital Link standard), and the
    # GTIN-13 4006381333931 printed on a Stabilo pen (the usual textbook example). Hand
    # check of the first: digits 0950600013435 weighted 3,1,3,... from the right sum to
    # 5*3+3+4*3+3+1*3+0+0+0+6*3+0+5*3+9+0*3 = 78, and (10 - 78 % 10) % 10 = 2.
    assert gs1_check_digit("0950600013435") == 2
    assert gs1_check_digit("400638133393") == 1


def _with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(filled())
    for dotted, value in changes.items():
        target: Any = data
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()

INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "declaration missing",
        _with(evaluators__0__declaration_of_interest=_DELETE),
        "evaluators[0].declaration_of_interest: required",
    ),
    (
        "empty qualification",
        _with(evaluators__1__qualification="   "),
        "evaluators[1].qualification: must not be empty",
    ),
    (
        "misspelt field",
        {**_with(intended_purpose=_DELETE), "intended_purpos": "x"},
        "intended_purpos: unknown field",
    ),
    ("no schema_version", _with(schema_version=_DELETE), "schema_version: required"),
    (
        "future schema_version",
        _with(schema_version=2),
        "schema_version: this cerflow reads schema_version 1, not 2",
    ),
    (
        "claimed equivalence without the characteristics",
        _with(equivalence={"claimed": True, "equivalent_device": "Other pump"}),
        "equivalence: equivalence is claimed, so clinical, technical, biological are required",
    ),
    (
        "wrong UDI-DI check digit",
        _with(models__0__udi_di="09506000134353"),
        "models[0].udi_di: GS1 check digit should be 2, not 3",
    ),
    (
        "class III updated every 2 years",
        _with(next_update={"device_class": "III", "interval_months": 24, "justification": "why"}),
        "next_update: interval_months over 12 for a device that is class III",
    ),
    (
        "interval without justification",
        _with(next_update={"device_class": "I", "interval_months": 36}),
        "next_update: justification is required when interval_months or date is given",
    ),
    (
        "interval over 5 years",
        _with(next_update={"interval_months": 61, "justification": "x"}),
        "next_update.interval_months: Input should be less than or equal to 60",
    ),
    (
        "unknown class",
        _with(next_update={"device_class": "IV"}),
        "next_update.device_class: Input should be 'I', 'IIa', 'IIb' or 'III'",
    ),
    (
        "control character in a name",
        _with(approvers__0__name="C.\x1b[2JDemo"),
        "approvers[0].name: must not contain control characters",
    ),
    (
        "bad date in the history",
        _with(change_history__0__date="2025-13-01"),
        "change_history[0].date: Input should be a valid date",
    ),
    (
        "claims not a list",
        _with(claims="accurate"),
        "claims: Input should be a valid list",
    ),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_inputs_name_the_field_and_why(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CerInputsError) as info:
        parse_inputs(data, "cer.yaml")
    assert any(line.startswith(message) for line in info.value.errors), info.value.errors
    assert str(info.value).startswith("cer.yaml: invalid CER inputs: ")
    assert info.value.status_code == 422


def test_every_problem_is_reported_at_once() -> None:
    data = _with(evaluators__0__declaration_of_interest=_DELETE, schema_version=_DELETE)
    with pytest.raises(CerInputsError) as info:
        parse_inputs(data)
    assert sorted(info.value.errors) == [
        "evaluators[0].declaration_of_interest: required",
        "schema_version: required",
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("cer.yaml", "schema_version: 1\nclaims: [a\n", "line 3 column 1:"),
        ("cer.json", '{"schema_version": 1,,}', "line 1 column 22:"),
        ("cer.yaml", "- a\n- b\n", "(top level): must be a mapping of fields, not list"),
        ("cer.txt", "schema_version: 1", "file name must end in .yaml, .yml or .json"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CerInputsError) as info:
        load_inputs(path)
    assert info.value.where == name
    assert info.value.errors[0].startswith(message), info.value.errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CerInputsError, match=r"nope\.yaml: invalid CER inputs: file not found"):
        load_inputs(tmp_path / "nope.yaml")


def test_json_schema_documents_every_field() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["schema_version"]
    props = set(schema["properties"])
    assert {name for name, _ in CER_REQUIRED} <= props
    assert {"evaluators", "approvers", "next_update", "change_history", "models"} <= props
    evaluator = schema["$defs"]["Evaluator"]
    assert set(evaluator["required"]) == {
        "name",
        "qualification",
        "cv_reference",
        "declaration_of_interest",
    }
