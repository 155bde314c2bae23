"""CER inputs in the browser: one form per product with every field of the schema.

The form is flat: each input is named by its place in the schema, the way validation
errors name it (`intended_purpose`, `evaluators[0].declaration_of_interest`,
`next_update.interval_months`), so an error lands beside its input. Lists of one-liners
(indications, claims, references) are textareas, one item a line; lists of records
(models, evaluators, approvers, change history) are repeated groups, the stored rows and
one blank row to add another (a row left blank is dropped). The whole document is
validated by the same `CerInputs` model as `PUT /api/v1/products/{ref}/cer-inputs` and
stored by the same service; nothing is stored when any field is wrong.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cerflow.api.deps import SessionDep
from cerflow.auth.models import Role
from cerflow.cer_inputs import service as inputs_service
from cerflow.cer_inputs.schemas import (
    SCHEMA_VERSION,
    CerInputs,
    CerInputsError,
    error_lines,
    missing_for_cer,
    parse_inputs,
)
from cerflow.errors import CerflowError
from cerflow.products.service import resolve
from cerflow.web.deps import PageSession, check_csrf, require_role
from cerflow.web.render import page
from cerflow.web.session import WebSession

router = APIRouter(include_in_schema=False)

TEXTS: tuple[tuple[str, str, str], ...] = (
    ("description", "Description", "Design, composition, principle of operation."),
    ("intended_purpose", "Intended purpose", ""),
    ("target_population", "Target population", ""),
    ("complaint_summary", "Complaints, vigilance and FSCA", "The manufacturer's own summary."),
    ("pmcf_summary", "Clinical data and PMCF results", ""),
    ("usage_data", "Usage data", "Units sold or patients treated, by period (denominators)."),
    ("benefit_risk", "Benefit-risk determination", ""),
    ("conclusions", "Conclusions", "Overall conclusions and actions."),
)
LINE_LISTS: tuple[tuple[str, str], ...] = (
    ("indications", "Indications"),
    ("contraindications", "Contraindications"),
    ("claims", "Clinical claims"),
)
# group -> (legend, [(field, label, kind)]) ; kind: line | text | date
GROUPS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "models": (
        "Models and variants in scope",
        [
            ("name", "Name", "line"),
            ("udi_di", "UDI-DI", "line"),
            ("basic_udi_di", "Basic UDI-DI", "line"),
            ("catalogue_number", "Catalogue number", "line"),
        ],
    ),
    "evaluators": (
        "Evaluators",
        [
            ("name", "Full name", "line"),
            ("qualification", "Qualification", "line"),
            ("cv_reference", "CV reference", "line"),
            ("declaration_of_interest", "Declaration of interest", "text"),
            ("role", "Role", "line"),
        ],
    ),
    "approvers": (
        "Approvers",
        [
            ("name", "Full name", "line"),
            ("role", "Function", "line"),
            ("organisation", "Organisation", "line"),
        ],
    ),
    "change_history": (
        "Change history",
        [
            ("version", "Version", "line"),
            ("date", "Date", "date"),
            ("description", "What changed and why", "text"),
            ("author", "Author", "line"),
        ],
    ),
}
EQUIVALENCE = ("equivalent_device", "clinical", "technical", "biological", "justification")
NEXT_BOOLS = ("implantable", "significant_risk", "well_established")
NEXT_OTHER = ("device_class", "interval_months", "date", "justification")
_ROW = re.compile(r"^(\w+)\[(\d{1,3})\]\.(\w+)$")
MAX_ROWS = 100


def dom_id(name: str) -> str:
    """An element id for a field name (`evaluators[0].name` -> `f-evaluators-0-name`)."""
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _yes_no(value: Any) -> str:
    return "" if value is None else ("yes" if value else "no")


def flatten(inputs: CerInputs | None) -> dict[str, str]:
    """The stored inputs as the form's flat values."""
    if inputs is None:
        return {}
    data = inputs.model_dump(mode="json", exclude_none=True)
    out: dict[str, str] = {}
    for name in ["product", *(t[0] for t in TEXTS)]:
        if data.get(name):
            out[name] = str(data[name])
    for name, _ in LINE_LISTS:
        out[name] = "\n".join(data.get(name) or [])
    for group in GROUPS:
        for i, row in enumerate(data.get(group) or []):
            for key, value in row.items():
                out[f"{group}[{i}].{key}"] = str(value)
    eq = data.get("equivalence")
    if eq:
        out["equivalence.claimed"] = _yes_no(eq.get("claimed"))
        for key in EQUIVALENCE:
            if eq.get(key):
                out[f"equivalence.{key}"] = str(eq[key])
    sota = data.get("state_of_the_art")
    if sota:
        out["state_of_the_art.text"] = str(sota.get("text", ""))
        out["state_of_the_art.references"] = "\n".join(sota.get("references") or [])
    nu = data.get("next_update")
    if nu:
        for key in NEXT_BOOLS:
            out[f"next_update.{key}"] = _yes_no(nu.get(key))
        for key in NEXT_OTHER:
            if nu.get(key) is not None:
                out[f"next_update.{key}"] = str(nu[key])
    return out


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def unflatten(form: dict[str, str]) -> dict[str, Any]:
    """The form's values as an inputs document (blank fields and blank rows left out)."""
    v = {k: val.strip() for k, val in form.items()}
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name in ["product", *(t[0] for t in TEXTS)]:
        if v.get(name):
            data[name] = v[name]
    for name, _ in LINE_LISTS:
        if _lines(v.get(name, "")):
            data[name] = _lines(v[name])
    rows: dict[str, dict[int, dict[str, str]]] = {g: {} for g in GROUPS}
    for key, value in v.items():
        m = _ROW.match(key)
        if m and m.group(1) in GROUPS and value and int(m.group(2)) < MAX_ROWS:
            rows[m.group(1)].setdefault(int(m.group(2)), {})[m.group(3)] = value
    for group, by_index in rows.items():
        if by_index:
            data[group] = [by_index[i] for i in sorted(by_index)]
    claimed = v.get("equivalence.claimed", "")
    eq: dict[str, Any] = {
        k: v[f"equivalence.{k}"] for k in EQUIVALENCE if v.get(f"equivalence.{k}")
    }
    if claimed:
        eq["claimed"] = claimed  # "yes"/"no": pydantic reads them as booleans
    if eq:
        data["equivalence"] = eq
    sota: dict[str, Any] = {}
    if v.get("state_of_the_art.text"):
        sota["text"] = v["state_of_the_art.text"]
    if _lines(v.get("state_of_the_art.references", "")):
        sota["references"] = _lines(v["state_of_the_art.references"])
    if sota:
        data["state_of_the_art"] = sota
    nu = {k: v[f"next_update.{k}"] for k in (*NEXT_BOOLS, *NEXT_OTHER) if v.get(f"next_update.{k}")}
    if nu:
        data["next_update"] = nu
    return data


def field_errors(exc: ValidationError, names: set[str]) -> dict[str, str]:
    """{form field name: message}; an error on a record or a list item goes to the nearest
    field the form has (`indications[2]` -> `indications`, `equivalence` -> its group)."""
    out: dict[str, str] = {}
    for line in error_lines(exc):
        loc, _, message = line.partition(": ")
        key = loc
        while key and key not in names:
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        key = key or "form"
        if key != loc and key not in ("form",) and not loc.startswith(key + "["):
            message = f"{loc.removeprefix(key).lstrip('.')}: {message}"
        out[key] = f"{out[key]}; {message}" if key in out else message
    return out


def _names(values: dict[str, str], rows: dict[str, int]) -> set[str]:
    names = {"product", *(t[0] for t in TEXTS), *(n for n, _ in LINE_LISTS)}
    names |= {"equivalence", "equivalence.claimed", *(f"equivalence.{k}" for k in EQUIVALENCE)}
    names |= {"state_of_the_art", "state_of_the_art.text", "state_of_the_art.references"}
    names |= {"next_update", *(f"next_update.{k}" for k in (*NEXT_BOOLS, *NEXT_OTHER))}
    for group, (_, fields) in GROUPS.items():
        names.add(group)
        for i in range(rows[group]):
            names.add(f"{group}[{i}]")
            names |= {f"{group}[{i}].{f}" for f, _, _ in fields}
    return names


def compact_rows(values: dict[str, str]) -> dict[str, str]:
    """Drop blank rows and number the others 0, 1, ... so that an error's location
    (`evaluators[1].name`) names the row the page shows again."""
    used: dict[str, set[int]] = {g: set() for g in GROUPS}
    for key, value in values.items():
        m = _ROW.match(key)
        if m and value.strip() and m.group(1) in GROUPS and int(m.group(2)) < MAX_ROWS:
            used[m.group(1)].add(int(m.group(2)))
    new_index = {g: {old: new for new, old in enumerate(sorted(ix))} for g, ix in used.items()}
    out: dict[str, str] = {}
    for key, value in values.items():
        m = _ROW.match(key)
        if m is None or m.group(1) not in GROUPS:
            out[key] = value
        elif int(m.group(2)) in new_index[m.group(1)]:
            out[f"{m.group(1)}[{new_index[m.group(1)][int(m.group(2))]}].{m.group(3)}"] = value
    return out


def _row_counts(values: dict[str, str]) -> dict[str, int]:
    """Rows to show per group: those with a value, and one blank row to add another."""
    counts = dict.fromkeys(GROUPS, 0)
    for key, value in values.items():
        m = _ROW.match(key)
        if m and value.strip() and m.group(1) in GROUPS and int(m.group(2)) < MAX_ROWS:
            counts[m.group(1)] = max(counts[m.group(1)], int(m.group(2)) + 1)
    return {g: n + 1 for g, n in counts.items()}


def _inputs_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    ref: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    kind, key = resolve(ref)
    row = inputs_service.get_row(session=session, product_ref=key)
    stored = parse_inputs(row.data, f"stored CER inputs of {key}") if row is not None else None
    if values is None:
        values = flatten(stored)
    return page(
        request,
        "inputs.html.j2",
        ws=ws,
        ref=key,
        kind=kind,
        row=row,
        v=values,
        rows=_row_counts(values),
        errors=errors or {},
        missing=missing_for_cer(stored),
        saved=saved,
        texts=TEXTS,
        line_lists=LINE_LISTS,
        groups=GROUPS,
        equivalence=EQUIVALENCE,
        dom_id=dom_id,
        can_act=ws.role.allows(Role.ANALYST),
        status_code=status_code,
    )


@router.get("/products/{ref}/inputs", response_class=HTMLResponse)
def inputs(
    request: Request, ref: str, ws: PageSession, session: SessionDep, saved: int = 0
) -> Response:
    return _inputs_page(request, ws, session, ref, saved=bool(saved))


@router.post("/products/{ref}/inputs", response_class=HTMLResponse)
async def save_inputs(request: Request, ref: str, ws: PageSession, session: SessionDep) -> Response:
    form = await request.form(max_fields=4000)
    token = form.get("csrf_token")
    check_csrf(request, ws, token if isinstance(token, str) else None)
    require_role(ws, Role.ANALYST)
    values = {
        k: val[:20_001]
        for k, val in form.items()
        if isinstance(val, str) and k != "csrf_token" and len(k) < 80
    }
    values = compact_rows(values)
    data = unflatten(values)
    names = _names(values, _row_counts(values))
    errors: dict[str, str] = {}
    body: CerInputs | None = None
    try:
        body = CerInputs.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc, names)
    if "product" not in errors and isinstance(data.get("product"), str):
        # checked even when other fields are wrong, so every error shows at once
        try:
            inputs_service.check_product(
                CerInputs.model_construct(schema_version=1, product=data["product"]), [ref], "form"
            )
        except CerInputsError as exc:
            errors["product"] = exc.errors[0].removeprefix("product: ")
        except CerflowError as exc:  # not a product reference at all
            errors["product"] = str(exc)
    if body is not None and not errors:
        _, key = resolve(ref)
        inputs_service.put(
            session=session,
            product_ref=key,
            data=body.model_dump(mode="json", exclude_none=True),
            user_id=ws.user_id,
        )
        return RedirectResponse(f"/products/{key}/inputs?saved=1", status_code=303)
    return _inputs_page(request, ws, session, ref, values=values, errors=errors, status_code=422)
