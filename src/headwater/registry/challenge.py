"""The `WWW-Authenticate` challenge of a registry's 401, parsed (RFC 7235).

A distribution registry answers `Bearer realm="https://auth.example/token",
service="registry.example",scope="repository:app:pull"` when it wants a token from
its token server (the Docker token auth spec), or `Basic realm="..."` when it checks
passwords itself. Values may be quoted strings with backslash escapes and commas
inside (`scope="repository:app:pull,push"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic" (lowercased: schemes are case-insensitive)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` value, or None if there is none."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", scheme):
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break  # a second challenge (`Basic realm=...` after a comma) or junk: stop
        name, value = m.group(1).lower(), m.group(2)
        if value.startswith('"'):
            value = _UNESCAPE.sub(r"\1", value[1:-1])
        params.setdefault(name, value)
        pos = m.end()
    return Challenge(scheme.lower(), params)
