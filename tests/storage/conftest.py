"""Fixtures shared by the storage tests: async tests run on asyncio through anyio's plugin.

pytest runs with `--import-mode=importlib`, which does not put test directories on
`sys.path`; this one is added so that each backend's test module can
`from conformance import ...` the reusable suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
