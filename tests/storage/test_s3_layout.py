"""Metadata names through an upstream: lakestow's own round-trip, anyone else's stay as they are."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from lakestow.storage.s3.layout import lakestow_metadata, upstream_metadata


@given(st.text(min_size=1, max_size=40))
def test_every_name_round_trips(name: str) -> None:
    sent = upstream_metadata({name: "v"})
    [upstream_name] = sent
    assert set(upstream_name) <= set(string.ascii_lowercase + string.digits + "._-")
    assert lakestow_metadata(sent) == {name: "v"}


def test_names_written_by_other_tools_come_back_unchanged() -> None:
    theirs = {"model.v1.0a": "x", "build.12": "y", "x.be": "z", "mtime": "1"}
    assert lakestow_metadata(theirs) == theirs


def test_lakestow_system_names_are_marked() -> None:
    assert upstream_metadata({":content-disposition": "a"}) == {"lk--.3acontent-disposition": "a"}
    assert upstream_metadata({"lk--mine": "b"}) == {"lk--lk--mine": "b"}
    assert lakestow_metadata({"LK--.3aA": "c"}) == {":a": "c"}  # upstreams may change case


@given(st.text(min_size=1, max_size=40), st.text(max_size=60))
def test_every_value_round_trips_as_ascii(name: str, value: str) -> None:
    """botocore sends only ASCII metadata: a value that is not goes base64'd, name marked."""
    sent = upstream_metadata({name: value})
    [(upstream_name, upstream_value)] = sent.items()
    assert upstream_value.isascii()
    assert set(upstream_name) <= set(string.ascii_lowercase + string.digits + "._-")
    assert lakestow_metadata(sent) == {name: value}


def test_non_ascii_values_are_marked_and_their_marks_escaped() -> None:
    assert upstream_metadata({"note": "Grüße"}) == {"lkb--note": "R3LDvMOfZQ=="}
    assert upstream_metadata({"lkb--mine": "b"}) == {"lk--lkb--mine": "b"}
    assert lakestow_metadata({"lkb--x": "not base64!"}) == {"lkb--x": "not base64!"}
