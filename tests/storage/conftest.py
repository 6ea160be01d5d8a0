"""Fixtures shared by the storage tests: async tests run on asyncio through anyio's plugin.

Each backend's test module takes the reusable suite with `from storage.conformance import ...`
(`tests` is on pytest's `pythonpath`).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
