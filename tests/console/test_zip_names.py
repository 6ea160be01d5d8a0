"""Zip downloads attacked with key names that extractors read as paths elsewhere: a member's
file in the shared folder must not land outside the folder another member extracts it into,
on Windows or anywhere else; every renamed file is listed in the archive's note."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from console.console_support import As
from lakestow.console.zipnames import NOTE, Names

EVIL = "data/shared/..\\..\\..\\evil.bat"


def safe_everywhere(name: str) -> bool:
    """What Windows, macOS and Linux extractors all take as a plain relative path."""
    segments = name.replace("\\", "/").split("/")
    return (
        "\\" not in name
        and not re.search(r'[:*?"<>|]', name)
        and all(segment not in ("", ".", "..") for segment in segments)
        and not any(unicodedata.category(c) == "Cc" for c in name)
        and all(segment == segment.rstrip(". ") for segment in segments)
    )


def put(member: As, path: str, body: bytes) -> None:
    response = member.put("/api/object?path=" + quote(path), content=body)
    assert response.status_code == 201, response.text


def zip_of(member: As, folder: str) -> zipfile.ZipFile:
    response = member.get("/api/zip", params={"path": folder})
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_a_shared_file_cannot_climb_out_of_anothers_zip(alice: As, bob: As) -> None:
    put(alice, EVIL, b"@echo off")
    put(alice, "data/shared/C:evil.txt", b"drive")
    put(alice, "data/shared/report.txt", b"plain")
    archive = zip_of(bob, "data/shared/")
    names = archive.namelist()
    assert all(safe_everywhere(name) for name in names), names
    assert sorted(names) == sorted(
        ["shared/.._.._.._evil.bat", "shared/C_evil.txt", "shared/report.txt", NOTE]
    )
    assert archive.read("shared/.._.._.._evil.bat") == b"@echo off"
    note = archive.read(NOTE).decode()
    assert f"{EVIL} -> shared/.._.._.._evil.bat\n" in note
    assert "data/shared/C:evil.txt -> shared/C_evil.txt\n" in note
    assert "report.txt" not in note


def test_a_zip_with_nothing_renamed_has_no_note(alice: As) -> None:
    put(alice, alice.home("plain/a.txt"), b"A")
    assert zip_of(alice, alice.home("plain/")).namelist() == ["plain/a.txt"]


def test_a_file_and_a_folder_of_one_name_both_survive(alice: As) -> None:
    put(alice, alice.home("both/a"), b"file")
    put(alice, alice.home("both/a/b"), b"inside")
    put(alice, alice.home("both/A.txt"), b"upper")
    put(alice, alice.home("both/a.txt"), b"lower")
    archive = zip_of(alice, alice.home("both/"))
    assert archive.read("both/a") == b"file"
    assert archive.read("both/a (2)/b") == b"inside"
    assert archive.read("both/A.txt") == b"upper"
    assert archive.read("both/a (2).txt") == b"lower"
    assert archive.read(NOTE).decode().splitlines()[3:] == [
        f"data/customer-{alice.id}/both/a.txt -> both/a (2).txt",
        f"data/customer-{alice.id}/both/a/b -> both/a (2)/b",
    ]


@given(st.lists(st.text(alphabet="ab.\\/: \x00\x1b\u202eCON", max_size=12), max_size=12))
def test_every_name_is_safe_unique_and_noted(keys: list[str]) -> None:
    names = Names()
    wanted = sorted(set(keys) - {""})
    placed = [names.place(key, key) for key in wanted]
    files = {name.casefold() for name in placed}
    folders = {
        "/".join(name.split("/")[:i]).casefold()
        for name in placed
        for i in range(1, name.count("/") + 1)
    }
    assert all(safe_everywhere(name) for name in placed)
    assert len(files) == len(placed)  # unique, whatever the case
    assert not files & folders  # never a file where a folder is needed
    renamed = {old for old, _ in names.renamed}
    assert renamed == {key for key, name in zip(wanted, placed, strict=True) if key != name}
