"""Member passwords, hashed with argon2id; the plain text never leaves this module's callers."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lakestow.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 1024
_hasher = PasswordHasher()


def check_strength(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is too long: use at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_strength(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a member without a password matches nothing."""
    if password_hash is None:
        _hasher.hash("x" * MIN_LENGTH)  # same cost either way: no timing hint of which
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
