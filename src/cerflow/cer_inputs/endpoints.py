"""CER inputs over HTTP: read (viewers) and replace (analysts) a product's inputs.

PUT validates the whole document before anything is written: an invalid body is a 422
naming each field and why, and the stored inputs stay as they were. The report job reads
the stored inputs of the product it renders.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError

from cerflow.api import API_PREFIX
from cerflow.api.deps import AnalystUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, NOT_FOUND
from cerflow.cer_inputs import service
from cerflow.cer_inputs.models import CerInputsRow
from cerflow.cer_inputs.schemas import (
    CerInputs,
    CerInputsError,
    CerInputsOut,
    missing_for_cer,
    parse_inputs,
)
from cerflow.errors import NotFoundError
from cerflow.text_rules import IDENTIFIER

router = APIRouter(
    prefix=f"{API_PREFIX}/products", tags=["cer inputs"], responses={**AUTH_RESPONSES}
)
ProductRef = Annotated[str, Path(min_length=1, max_length=255, pattern=IDENTIFIER)]


def _out(row: CerInputsRow, inputs: CerInputs) -> CerInputsOut:
    missing = missing_for_cer(inputs)
    return CerInputsOut(
        product_kind=row.product_kind,
        product_ref=row.product_ref,
        updated_at=row.updated_at,
        updated_by=row.updated_by_email,
        is_cer=not missing,
        missing_for_cer=missing,
        inputs=inputs,
    )


@router.get("/{ref}/cer-inputs", response_model=CerInputsOut, responses={**NOT_FOUND})
def get_inputs(ref: ProductRef, _user: ViewerUser, session: SessionDep) -> CerInputsOut:
    """The product's stored CER inputs, and what is still missing before it is a CER."""
    row = service.get_row(session=session, product_ref=ref)
    if row is None:
        raise NotFoundError(
            f"no CER inputs stored for {ref!r}; PUT them to this URL "
            "(schema: `cerflow inputs schema`)"
        )
    return _out(row, parse_inputs(row.data, f"stored CER inputs of {row.product_ref}"))


@router.put("/{ref}/cer-inputs", response_model=CerInputsOut, responses={**BODY_ERRORS})
def put_inputs(
    ref: ProductRef, body: CerInputs, user: AnalystUser, session: SessionDep
) -> CerInputsOut:
    """Replace the product's CER inputs (validated first; nothing is stored on error)."""
    try:
        service.check_product(body, [ref], "request body")
    except CerInputsError as exc:  # a 422 in the same shape as every other field error
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "product"),
                    "msg": exc.errors[0].removeprefix("product: "),
                    "input": body.product,
                }
            ]
        ) from None
    row, inputs = service.put(
        session=session,
        product_ref=ref,
        data=body.model_dump(mode="json", exclude_none=True),
        user_id=user.user_id,
    )
    return _out(row, inputs)
