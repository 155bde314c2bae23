"""Read and replace a product's CER inputs (validated first: nothing is stored on error)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from cerflow.auth.models import User
from cerflow.cer_inputs.models import CerInputsRow
from cerflow.cer_inputs.schemas import CerInputs, CerInputsError, parse_inputs
from cerflow.products.service import resolve


def check_product(inputs: CerInputs, refs: list[str], where: str) -> None:
    """Refuse inputs written for another product (their `product` names a different one)."""
    if inputs.product is None:
        return
    wanted = {resolve(r) for r in refs}
    if resolve(inputs.product) not in wanted:
        raise CerInputsError(
            where,
            [
                f"product: these inputs are for {inputs.product!r}, not "
                + " or ".join(repr(r) for r in refs)
                + " (use that product's inputs, or remove the product field)"
            ],
        )


def get_row(*, session: Session, product_ref: str) -> CerInputsRow | None:
    kind, key = resolve(product_ref)
    stmt = select(CerInputsRow).where(
        CerInputsRow.product_kind == kind, CerInputsRow.product_ref == key
    )
    return session.scalars(stmt).one_or_none()


def get(*, session: Session, product_ref: str) -> CerInputs | None:
    row = get_row(session=session, product_ref=product_ref)
    if row is None:
        return None
    return parse_inputs(row.data, f"stored CER inputs of {row.product_ref}")


def put(
    *, session: Session, product_ref: str, data: Any, user_id: int | None
) -> tuple[CerInputsRow, CerInputs]:
    """Validate `data` and store it as the product's inputs (replacing any earlier ones).

    Raises `CerInputsError` (422, naming each bad field) before anything is written."""
    inputs = parse_inputs(data, "request body")
    check_product(inputs, [product_ref], "request body")
    kind, key = resolve(product_ref)
    user = session.get(User, user_id) if user_id is not None else None
    email = user.email if user is not None else (f"user {user_id}" if user_id else "cli")
    row = get_row(session=session, product_ref=product_ref)
    if row is None:
        row = CerInputsRow(product_kind=kind, product_ref=key)
        session.add(row)
    row.schema_version = inputs.schema_version
    row.data = inputs.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    row.updated_by = user_id
    row.updated_by_email = email
    session.flush()
    return row, inputs


def load_for_report(engine: Engine | Connection, *, kind: str, ref: str) -> CerInputs | None:
    """The stored inputs of a product for the report job (None when there are none)."""
    key = resolve(ref)[1]
    with Session(engine) as session:
        stmt = select(CerInputsRow).where(
            CerInputsRow.product_kind == kind, CerInputsRow.product_ref == key
        )
        row = session.scalars(stmt).one_or_none()
        if row is None:
            return None
        return parse_inputs(row.data, f"stored CER inputs of {row.product_ref}")
