"""A header that is not delimited as expected is named for its delimiter or encoding."""

from __future__ import annotations

import pytest

from cerflow.sources.header_check import header_problem


@pytest.mark.parametrize(
    ("raw", "delimiter", "expected"),
    [
        (b"isr,case,i_f_cod,foll_seq", "$", "delimited by a comma, not '$'"),
        (b"isr\tcase\ti_f_cod", "$", "delimited by a tab"),
        (b"MDR_REPORT_KEY,EVENT_KEY,REPORT_NUMBER", "|", "delimited by a comma, not '|'"),
        ("isr$case$i_f_cod".encode("utf-16"), "$", "UTF-16"),
        ("MDR_REPORT_KEY|X".encode("utf-16-be"), "|", "UTF-16"),
    ],
)
def test_wrong_delimiter_or_encoding_is_named(raw: bytes, delimiter: str, expected: str) -> None:
    problem = header_problem(raw, delimiter)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("raw", "delimiter"),
    [(b"isr$case$i_f_cod$", "$"), (b"MDR_REPORT_KEY|EVENT_KEY", "|"), (b"single", "$")],
)
def test_plausible_headers_pass(raw: bytes, delimiter: str) -> None:
    assert header_problem(raw, delimiter) is None
