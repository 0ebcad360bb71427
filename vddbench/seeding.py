"""Seeds derived from names, the same on every machine and Python version."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_seed(*parts: Any) -> int:
    """A seed derived from its parts (JSON values)."""
    return int.from_bytes(hashlib.sha256(json.dumps(parts).encode()).digest()[:4], "little")
