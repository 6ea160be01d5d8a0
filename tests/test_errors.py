"""The error set is closed: every code has one status, and a code outside the table is refused."""

from __future__ import annotations

import inspect

import pytest

import lakestow.errors as errors
from lakestow.errors import STATUS, InvalidRequest, LakestowError, SignInRequired


def _classes() -> list[type[LakestowError]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, LakestowError)
    ]


@pytest.mark.parametrize("kind", _classes(), ids=lambda kind: kind.__name__)
def test_every_class_code_is_in_the_table(kind: type[LakestowError]) -> None:
    assert kind.code in STATUS


def test_the_status_follows_the_code() -> None:
    assert InvalidRequest("r", code="InvalidRange").status == 416
    assert InvalidRequest("x", code="MalformedXML").status == 400
    assert SignInRequired("sign in first").status == 401
    assert LakestowError("boom").status == 500


def test_a_code_outside_the_table_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not one of lakestow's error codes"):
        InvalidRequest("r", code="SomethingMadeUp")
