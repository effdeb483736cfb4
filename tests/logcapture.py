"""Capture what `headwater.log` prints, as logfmt text, and restore the default after."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from headwater import log as hwlog


@contextmanager
def captured_log(level: str = "info") -> Iterator[io.StringIO]:
    stream = io.StringIO()
    hwlog.setup(level, stream=stream)
    try:
        yield stream
    finally:
        hwlog.setup()
