"""WWW-Authenticate challenges, parsed as registries send them."""

from __future__ import annotations

import pytest

from headwater.registry.challenge import Challenge, parse_challenge


@pytest.mark.parametrize(("header", "expected"), [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/nginx:pull"',
     Challenge("bearer", {"realm": "https://auth.docker.io/token",
                          "service": "registry.docker.io",
                          "scope": "repository:library/nginx:pull"})),
    # Commas inside a quoted value, spaces after commas, an error parameter.
    ('Bearer realm="https://ghcr.io/token", service="ghcr.io", '
     'scope="repository:org/app:pull,push", error="insufficient_scope"',
     Challenge("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io",
                          "scope": "repository:org/app:pull,push",
                          "error": "insufficient_scope"})),
    ('Basic realm="headwater"', Challenge("basic", {"realm": "headwater"})),
    ('basic realm=registry', Challenge("basic", {"realm": "registry"})),
    ('BEARER Realm="https://x/t"', Challenge("bearer", {"realm": "https://x/t"})),
    (r'Bearer realm="https://x/t",service="a \"quoted\" name"',
     Challenge("bearer", {"realm": "https://x/t", "service": 'a "quoted" name'})),
    ("Basic", Challenge("basic", {})),
    # Only the first of several challenges is read.
    ('Bearer realm="https://x/t", Basic realm="y"', Challenge("bearer", {"realm": "https://x/t"})),
])
def test_parse_challenge(header: str, expected: Challenge) -> None:
    assert parse_challenge(header) == expected


@pytest.mark.parametrize("header", [None, "", "   ", "(bad) realm=x"])
def test_no_challenge(header: str | None) -> None:
    assert parse_challenge(header) is None


def test_challenge_properties() -> None:
    c = parse_challenge('Bearer realm="r",service="s",scope="repository:a:pull"')
    assert c is not None
    assert (c.realm, c.service, c.scope) == ("r", "s", "repository:a:pull")
    basic = parse_challenge('Basic realm="x"')
    assert basic is not None
    assert basic.scope is None
