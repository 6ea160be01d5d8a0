"""Sealed listing cursors: where the next page starts, opaque to whoever holds it.

A continuation token (or the console's cursor) names the last key or common prefix of a page.
Handed out in the clear it would show that name, and a forged one would start a listing
anywhere, so it is sealed with the server keys (AES-GCM, like session tokens) together with
what it belongs to: the caller and the listing (bucket, prefix, delimiter). A token opened
for another caller or another listing, or tampered with, is refused like a malformed one.
"""

from __future__ import annotations

import base64
import binascii
import json

from lakestow.auth.keys import Keyring, Unsealable
from lakestow.errors import InvalidInput

_PURPOSE = b"lakestow listing cursor v1"


def seal(keyring: Keyring, binding: tuple[object, ...], position: str) -> str:
    """A token for the page after `position`, valid only for `binding`."""
    plain = json.dumps([*binding, position]).encode("ascii")
    return base64.urlsafe_b64encode(keyring.seal(plain, _PURPOSE)).decode()


def open_(keyring: Keyring, binding: tuple[object, ...], token: str, message: str) -> str:
    """The position `token` names, or InvalidInput(`message`) if it is not one `seal` gave
    out for `binding`."""
    try:
        box = base64.urlsafe_b64decode(token.encode("ascii"))
        values = json.loads(keyring.open(box, _PURPOSE))
    except (UnicodeError, binascii.Error, ValueError, Unsealable) as exc:
        raise InvalidInput(message) from exc
    if not isinstance(values, list) or values[:-1] != list(binding):
        raise InvalidInput(message)
    position = values[-1]
    if not isinstance(position, str):
        raise InvalidInput(message)
    return position
