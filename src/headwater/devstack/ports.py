"""Free TCP ports on 127.0.0.1. A port recorded by an earlier `up` is kept when still free."""

from __future__ import annotations

import contextlib
import socket


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the daemons do: a port whose old connections linger in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick(wanted: int | None, taken: set[int]) -> int:
    """`wanted` if it is free and not handed out already; otherwise a fresh free port."""
    if wanted and wanted not in taken and is_free(wanted):
        taken.add(wanted)
        return wanted
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def accepts(port: int, timeout: float = 0.5) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout):
        return True
    return False
