"""Server keys: the AES-256-GCM keys that seal session tokens and operator secrets.

The key file is JSON, mode 0600, in a 0700 folder: `{"version": 1, "keys": [{"id", "key"}]}`.
The first key seals; every key opens, so a new key can be put first without breaking
credentials already issued. Replicas share one key file (`LAKESTOW_KEY_FILE`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lakestow.errors import InvalidInput, NotInitialized

KEY_ID_BYTES = 4
NONCE_BYTES = 12


class Unsealable(Exception):
    """A sealed box that no key of this keyring opens: tampered, or sealed elsewhere."""


@dataclass(frozen=True)
class Keyring:
    """Named AES-GCM keys; `seal` uses the first, `open` whichever key the box names."""

    keys: tuple[tuple[bytes, bytes], ...]  # (key id, 32-byte key)

    def seal(self, plaintext: bytes, purpose: bytes) -> bytes:
        key_id, key = self.keys[0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        return key_id + nonce + AESGCM(key).encrypt(nonce, plaintext, purpose + key_id)

    def knows(self, box: bytes) -> bool:
        """Whether a key of this keyring (by its id) sealed `box`."""
        return any(box[:KEY_ID_BYTES] == key_id for key_id, _ in self.keys)

    def seals_with(self, box: bytes) -> bool:
        """Whether `box` was sealed with this keyring's first (current) key."""
        return box[:KEY_ID_BYTES] == self.keys[0][0]

    def open(self, box: bytes, purpose: bytes) -> bytes:
        key_id, nonce = box[:KEY_ID_BYTES], box[KEY_ID_BYTES : KEY_ID_BYTES + NONCE_BYTES]
        for candidate_id, key in self.keys:
            if candidate_id == key_id:
                try:
                    ciphertext = box[KEY_ID_BYTES + NONCE_BYTES :]
                    return AESGCM(key).decrypt(nonce, ciphertext, purpose + key_id)
                except InvalidTag as exc:
                    raise Unsealable("the box was tampered with") from exc
        raise Unsealable("no key of this server sealed the box")


def generate(path: Path) -> None:
    """Write a new key file at `path`, mode 0600; never overwrite an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {"version": 1, "keys": [_new_key()]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out)
        out.flush()
        os.fsync(out.fileno())


def stage(path: Path) -> None:
    """Add a new key LAST to the key file at `path`: it opens but does not seal yet. Once the
    file is on every replica, `promote` makes it the sealing key; a rolling restart in between
    never meets a replica that cannot open what another sealed."""

    def add(ring: list[dict[str, str]]) -> list[dict[str, str]]:
        if any("staged" in k for k in ring):
            raise InvalidInput(f"{path} has a staged key already: promote it first")
        return [*ring, {**_new_key(), "staged": "yes"}]

    _rewrite(path, add)


def promote(path: Path) -> None:
    """Make the staged key the first key of the key file: the one that seals."""

    def first(ring: list[dict[str, str]]) -> list[dict[str, str]]:
        staged = [k for k in ring if "staged" in k]
        if not staged:
            raise InvalidInput(f"{path} has no staged key: run `lakestow keys rotate` first")
        new = {name: value for name, value in staged[0].items() if name != "staged"}
        return [new, *(k for k in ring if "staged" not in k)]

    _rewrite(path, first)


def _rewrite(path: Path, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
    """Replace the key file atomically with its keys changed: same owner, mode 0600."""
    load(path)  # refuse a file that is not a valid key file
    document = json.loads(path.read_text(encoding="utf-8"))
    document["keys"] = change(document["keys"])
    owner = path.stat()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if os.geteuid() == 0:  # root rotating the service user's file keeps it theirs
                os.fchown(out.fileno(), owner.st_uid, owner.st_gid)
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path) -> Keyring:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotInitialized(f"no server key file at {path}: run `lakestow init`") from exc
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a lakestow key file ({exc})") from exc
    if path.stat().st_mode & 0o077:
        raise InvalidInput(f"{path}: the key file must not be readable by others (chmod 600)")
    keys = tuple((base64.b64decode(k["id"]), base64.b64decode(k["key"])) for k in document["keys"])
    if not keys or any(len(k) != 32 or len(i) != KEY_ID_BYTES for i, k in keys):
        raise InvalidInput(f"{path}: malformed key entries")
    return Keyring(keys)


def _new_key() -> dict[str, str]:
    return {
        "id": base64.b64encode(secrets.token_bytes(KEY_ID_BYTES)).decode(),
        "key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
    }
