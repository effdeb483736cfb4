"""Sizes as Docker's `RAMInBytes` (go-units) reads them: `100MB`, `512k`, `1.5GiB`, `1048576`.

Concourse takes memory limits this way; a server flag such as `--max-build-log-size`
does too. Units are binary (1 KB = 1024 bytes), case-insensitive, with or without
`B`/`iB`; a bare number is bytes.
"""

from __future__ import annotations

import json
import re
from typing import Final

from headwater.errors import UserError

__all__ = ["SizeError", "parse_size"]

_UNITS: Final = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


class SizeError(UserError, ValueError):
    """Not a size; the message says what one looks like."""


def parse_size(text: str) -> int:
    """Bytes, from a size such as `100MB`; raises `SizeError`."""
    m = _SIZE.fullmatch(text)
    if m is None:
        raise SizeError(f"invalid size {json.dumps(text)}: expected a number of bytes or a "
                        "number with a unit such as 512KB, 100MB or 2GB (K, M, G, T; "
                        "1 KB = 1024 bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
