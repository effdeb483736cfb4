"""Registry auth against real registries: htpasswd (Basic) and token auth (Bearer).

Both registries are the stack's own `docker-registry`, started by the stack's code
(`devstack.registry.prepare` + `start`): one with htpasswd, one whose config trusts a
token server. The token server is this test's: it signs JWTs the registry verifies
(as Docker Hub's auth.docker.io does), and counts the tokens it gives.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.devstack import process, registry
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick
from headwater.registry import AuthError, Credentials, Keychain, Reference, RegistryClient
from tests.registry.helpers import (
    BearerAuth,
    TokenIssuer,
    TokenServer,
    push_image,
    scope_access,
    serve,
)


def _creds(reg: registry.Registry, password: str | None = None) -> Keychain:
    assert reg.username and reg.password
    return Keychain({reg.host: Credentials(reg.username, password or reg.password, "test")})


async def test_basic_auth_registry_refuses_anonymous_and_serves_with_credentials(
    auth_registry: registry.Registry,
) -> None:
    name = f"app-{uuid.uuid4().hex[:8]}"  # the session's registry is shared by other tests
    push_image(auth_registry.url, name, "1.0", labels={
        "org.opencontainers.image.created": "2024-05-05T00:00:00Z"}, auth=auth_registry.auth)
    repo = Reference(auth_registry.host, name)
    async with RegistryClient() as anonymous:
        with pytest.raises(AuthError) as refused:
            await anonymous.tags(repo)
    message = str(refused.value)
    assert auth_registry.host in message and name in message
    assert "no credentials" in message and "--docker-config" in message
    assert anonymous.requests == {"tags": 1}

    async with RegistryClient(credentials=_creds(auth_registry)) as client:
        assert await client.tags(repo) == ["1.0"]
        info = await client.image_info(repo, "1.0")
        assert info.created is not None and info.created.year == 2024
        # The first request met the challenge; later ones send Basic up front.
        assert client.requests == {"tags": 2, "manifest": 1, "blob": 1}


async def test_basic_auth_with_a_wrong_password_is_refused_without_showing_it(
    auth_registry: registry.Registry,
) -> None:
    wrong = "not-the-password-123"
    async with RegistryClient(credentials=_creds(auth_registry, wrong)) as client:
        with pytest.raises(AuthError) as refused:
            await client.tags(Reference(auth_registry.host, "app"))
    message = str(refused.value)
    assert "refused access" in message and "'headwater'" in message
    assert wrong not in message


@dataclass
class TokenRegistry:
    host: str
    url: str
    issuer: TokenIssuer
    server: TokenServer
    user: str
    password: str

    def push_token(self, repo: str) -> BearerAuth:
        return BearerAuth(self.issuer.mint(
            subject=self.user, access=[scope_access(f"repository:{repo}:pull,push")], ttl=300))


@pytest.fixture(scope="module")
async def token_registry() -> AsyncIterator[TokenRegistry]:
    issuer = TokenIssuer(issuer="headwater-test-issuer", service="headwater-test-registry")
    server = TokenServer(issuer, {"alice": "wonderland-42"})
    async with serve(server.app) as token_host:
        with tempfile.TemporaryDirectory(prefix="hwreg-") as d:
            layout = Layout(Path(d))
            layout.create()
            directory = layout.sub("registry")
            reg = registry.prepare(directory, port=pick(None, set()), auth=False)
            (directory / "token.pem").write_bytes(issuer.cert_pem())
            config: dict[str, Any] = yaml.safe_load((directory / "config.yml").read_text())
            config["auth"] = {"token": {
                "realm": f"http://{token_host}/token", "service": issuer.service,
                "issuer": issuer.issuer, "rootcertbundle": str(directory / "token.pem")}}
            (directory / "config.yml").write_text(yaml.safe_dump(config))
            proc = await asyncio.to_thread(registry.start, directory, reg,
                                           name="registry-token", layout=layout)
            try:
                yield TokenRegistry(reg.host, reg.url, issuer, server, "alice", "wonderland-42")
            finally:
                process.stop(proc, layout)


async def test_bearer_token_flow_gets_a_token_from_the_realm_and_caches_it_per_scope(
    token_registry: TokenRegistry,
) -> None:
    reg = token_registry
    for name in ("one", "two"):
        push_image(reg.url, name, "1.0", auth=reg.push_token(name))
    creds = Keychain({reg.host: Credentials(reg.user, reg.password)})
    issued = reg.server.issued
    async with RegistryClient(credentials=creds) as client:
        assert await client.tags(f"{reg.host}/one") == ["1.0"]
        # 401 with the challenge, a token from the realm, the retry.
        assert client.requests == {"tags": 2, "token": 1}
        info = await client.image_info(f"{reg.host}/one", "1.0")
        assert info.created is not None
        # The token for repository:one:pull is reused: no 401, no new token.
        assert client.requests == {"tags": 2, "token": 1, "manifest": 1, "blob": 1}
        assert await client.tags(f"{reg.host}/two") == ["1.0"]
        # Another repository, another scope: its token is fetched up front.
        assert client.requests == {"tags": 3, "token": 2, "manifest": 1, "blob": 1}
    assert reg.server.issued == issued + 2
    asked = reg.server.requests[-2:]
    assert asked == [
        {"scope": "repository:one:pull", "service": "headwater-test-registry"},
        {"scope": "repository:two:pull", "service": "headwater-test-registry"}]


async def test_an_expired_token_is_renewed(token_registry: TokenRegistry) -> None:
    reg = token_registry
    push_image(reg.url, "short", "1.0", auth=reg.push_token("short"))
    creds = Keychain({reg.host: Credentials(reg.user, reg.password)})
    reg.server.ttl = 1  # kept for half its life: 0.5 s
    try:
        async with RegistryClient(credentials=creds) as client:
            await client.tags(f"{reg.host}/short")
            await client.tags(f"{reg.host}/short")
            assert client.requests["token"] == 1
            await asyncio.sleep(0.6)
            await client.tags(f"{reg.host}/short")
            assert client.requests["token"] == 2
    finally:
        reg.server.ttl = 300


@pytest.mark.parametrize(("credentials", "who"), [
    (None, "anonymous"),
    (Credentials("alice", "wrong-password-7"), "'alice'"),
])
async def test_the_token_server_refusing_is_an_auth_error_naming_the_registry(
    token_registry: TokenRegistry, credentials: Credentials | None, who: str
) -> None:
    reg = token_registry
    chain = Keychain({reg.host: credentials}) if credentials else None
    async with RegistryClient(credentials=chain) as client:
        with pytest.raises(AuthError) as refused:
            await client.tags(f"{reg.host}/one")
    message = str(refused.value)
    assert f"token server of {reg.host}" in message and who in message
    assert "one" in message and "imagePullSecrets" in message
    assert "wrong-password-7" not in message
