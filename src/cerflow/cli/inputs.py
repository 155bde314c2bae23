"""`cerflow inputs validate FILE` and `cerflow inputs schema`: the writer's CER inputs.

`validate` prints every problem as "field: why" (exit 2) or, for a valid file, which of
the inputs that make the document a Clinical Evaluation Report are still missing (exit 0).
`schema` prints the JSON Schema of the inputs (or writes it with --out); the filled and
the empty example are written by `cerflow demo` and kept under `examples/`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from cerflow.cer_inputs.schemas import CerInputsError, json_schema, load_inputs, missing_for_cer
from cerflow.cli._common import err, out

app = typer.Typer(help="CER inputs: what only the manufacturer or evaluator can supply.")

TEMPLATE_NAME = "cer-inputs-template.yaml"
EXAMPLE_NAME = "cer-inputs-example-LZG.yaml"


def example_text(name: str) -> str:
    """The bundled empty template or filled example (the files under `examples/`)."""
    return resources.files("cerflow.cer_inputs").joinpath(f"examples/{name}").read_text("utf-8")


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="CER inputs file (.yaml, .yml or .json).")],
) -> None:
    """Check a CER inputs file; print each error as 'field: why'."""
    try:
        inputs = load_inputs(file)
    except CerInputsError as exc:
        err.print(f"[red]error:[/red] {exc.where}: invalid CER inputs")
        for line in exc.errors:
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    missing = missing_for_cer(inputs)
    console = out()
    console.print(f"{file.name}: valid CER inputs (schema_version {inputs.schema_version})")
    if missing:
        console.print(
            "Not yet a Clinical Evaluation Report; missing: " + ", ".join(missing),
            markup=False,
            highlight=False,
        )
    else:
        console.print("Complete: the report will be titled 'Clinical Evaluation Report'.")


@app.command("schema")
def schema_command(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON Schema to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of CER inputs."""
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        out().print(f"wrote {out_file}")


def write_examples(directory: Path) -> dict[str, Path]:
    """Write the empty template and the filled example into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, name in (("template", TEMPLATE_NAME), ("example", EXAMPLE_NAME)):
        target = directory / name
        target.write_text(example_text(name), encoding="utf-8")
        written[key] = target
    return written


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="inputs")
