"""The shared form-error mapping: first error per field, no pydantic prefix, page wording."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from cerflow.web.form_errors import first_errors


class _Form(BaseModel):
    name: str
    count: int

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("give a name")
        return v


def _error(data: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Form.model_validate(data)
    return info.value


def test_first_error_per_field_without_the_pydantic_prefix() -> None:
    errors = first_errors(_error({"name": " ", "count": "many"}))
    assert errors == {
        "name": "give a name",
        "count": "Input should be a valid integer, unable to parse string as an integer",
    }


def test_prefix_and_page_wording() -> None:
    errors = first_errors(
        _error({"name": " ", "count": 1}),
        prefix="user_",
        messages={"name": "Name the user (their full name)."},
    )
    assert errors == {"user_name": "Name the user (their full name)."}


def test_an_error_without_a_field_goes_to_the_form() -> None:
    with pytest.raises(ValidationError) as info:
        _Form.model_validate("not a mapping")
    assert list(first_errors(info.value)) == ["form"]
