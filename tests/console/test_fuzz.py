"""schemathesis against the console API's own OpenAPI document, on a live server: no request
answers 500, every error is the JSON error object, and nothing outside the fuzzing member's
reach changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from console.console_support import LiveConsole
from lakestow.console.openapi import DOCUMENT

EXAMPLES = 25


def signed_in(live: LiveConsole, name: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{live.url}/api/session", json={"name": name, "password": f"{name}-password"}
    )
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return session


@pytest.fixture(scope="module")
def canary(live: LiveConsole) -> Iterator[tuple[requests.Session, str]]:
    """A file of alice's that bob's fuzzing must not touch."""
    alice = signed_in(live, "alice")
    path = f"data/customer-{live.ids['alice']}/canary.txt"
    alice.put(f"{live.url}/api/object", params={"path": path}, data=b"canary").raise_for_status()
    yield alice, path
    after = alice.get(f"{live.url}/api/download", params={"path": path})
    assert after.content == b"canary"


@pytest.fixture(scope="module")
def bob(live: LiveConsole, canary: Any) -> requests.Session:
    return signed_in(live, "bob")


def test_the_document_is_valid_openapi() -> None:
    OPENAPI_31_VALIDATOR.validate(DOCUMENT)  # raises on the first error


class Counter:
    count = 0


def operations(live: LiveConsole) -> list[Any]:
    """Every operation of the served document but signing in and out (bob must stay in)."""
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path != "/api/session"]


@pytest.mark.slow
def test_api_never_fails(bob: requests.Session, live: LiveConsole) -> None:
    checked = 0
    calls = Counter()
    for operation in operations(live):

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(session=bob, base_url=live.url)
            calls.count += 1
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                error = response.json()
                assert set(error) == {"error", "message"}, error

        fuzz()
        checked += 1
    assert (
        checked
        == len(DOCUMENT["paths"])
        + sum(len(methods) for methods in DOCUMENT["paths"].values())
        - len(DOCUMENT["paths"])
        - 2
    )
