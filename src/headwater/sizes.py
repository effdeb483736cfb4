"""Byte sizes as flags take them: `2GiB`, `512MiB`, `100MB`, `64k`, or plain bytes.

Binary units (`KiB`, `MiB`, `GiB`, `TiB`, and the short `k`, `m`, `g`, `t` as Docker's
`--memory` reads them) are powers of 1024; decimal units (`KB`, `MB`, `GB`, `TB`) powers
of 1000. Case-insensitive except that the `i` marks binary; a size is a whole number.
"""

from __future__ import annotations

import re

__all__ = ["parse_size"]

_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1,
          "k": 1024, "kib": 1024, "m": 1024 ** 2, "mib": 1024 ** 2,
          "g": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4, "tib": 1024 ** 4,
          "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4}


def parse_size(text: str) -> int:
    """Bytes, from a size string; ValueError saying what a size looks like."""
    m = _SIZE.match(text)
    unit = _UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise ValueError(f"invalid size {text!r}: expected a whole number of bytes with an "
                         "optional unit, such as 2GiB, 512MiB, 100MB or 4096")
    return int(m.group(1)) * unit
