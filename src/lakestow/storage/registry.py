"""Choose a storage backend by URL; each backend module is imported on first use.

    store = await open_store("file:///var/lib/lakestow/objects")
    store = await open_store("s3://bucket/prefix", endpoint_url=...)   # the s3 backend

A backend module exposes `async def open_url(url: str, **options) -> ObjectStore`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

from lakestow.errors import InvalidInput
from lakestow.storage.protocol import ObjectStore

Opener = Callable[..., Awaitable[ObjectStore]]

BACKENDS: dict[str, str] = {
    "file": "lakestow.storage.local",
    "s3": "lakestow.storage.s3",
}
"""URL scheme -> module defining `open_url`."""

REQUIREMENTS: dict[str, str] = {"s3": "aiobotocore"}
"""URL scheme -> the distribution its backend needs beyond lakestow's core."""


def register_backend(scheme: str, module: str, requirement: str | None = None) -> None:
    """Make `scheme://` URLs open through `module.open_url` (which may need `requirement`)."""
    BACKENDS[scheme] = module
    if requirement:
        REQUIREMENTS[scheme] = requirement


def backend_opener(url: str) -> Opener:
    """The `open_url` of the backend a URL's scheme names, importing it now."""
    scheme = urlsplit(url).scheme
    module_name = BACKENDS.get(scheme)
    if module_name is None:
        known = ", ".join(f"{s}://" for s in sorted(BACKENDS))
        raise InvalidInput(f"Unknown storage URL {url!r}: expected one of {known}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(_missing(scheme, module_name, exc)) from exc
    return cast(Opener, module.open_url)


def _missing(scheme: str, module_name: str, exc: ImportError) -> str:
    """What to say, and what to install, when a backend's module cannot be imported."""
    install = REQUIREMENTS.get(scheme)
    fix = f"`pip install {install}`" if install else "install the package that provides it"
    return (
        f"The {scheme}:// storage backend is not available: importing {module_name} failed "
        f"({exc}). To use it, {fix}; or use a file:// store."
    )


async def open_store(url: str, **options: Any) -> ObjectStore:
    """Open the object store at `url`; `options` go to the backend."""
    return await backend_opener(url)(url, **options)
