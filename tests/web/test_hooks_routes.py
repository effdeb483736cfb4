"""The hook routes in a real ASGI app without CI or CD behind them: what they answer and
what they log, for the requests a forge (or an attacker) sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
from fastapi import FastAPI
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.web.hooks import hooks_router
from tests.logcapture import captured_log

SECRET = "s3cret-of-the-generic-hook-0123456789"


def _client(secrets: dict[str, str]) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(hooks_router(secrets=secrets, max_body=4096))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hw")


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                        hashlib.sha256).hexdigest()}


async def test_a_push_naming_a_url_with_credentials_logs_it_without_them() -> None:
    body = json.dumps({"url": "https://ci:tok3n-value@git.example.com/app.git",
                       "branch": "main"}).encode()
    with captured_log() as log:
        async with _client({"generic": SECRET}) as http:
            r = await http.post("/api/v1/hooks/git", content=body, headers=_signed(body))
    assert r.status_code == 202
    assert r.json() == {"forge": "generic", "ref": "refs/heads/main", "checked": [],
                        "synced": []}
    text = log.getvalue()
    assert "webhook push" in text and "hook=generic" in text
    assert "tok3n-value" not in text and SECRET not in text


async def test_without_any_secret_configured_every_hook_is_refused() -> None:
    body = b'{"url": "git://h/a", "branch": "main"}'
    with captured_log() as log:
        async with _client({}) as http:
            r = await http.post("/api/v1/hooks/git", content=body, headers=_signed(body))
            reg = await http.post("/api/v1/hooks/registry", content=b'{"events": []}',
                                  headers={"Authorization": f"Bearer {SECRET}"})
    assert (r.status_code, reg.status_code) == (401, 401)
    assert "no webhook secret is configured" in r.json()["detail"]
    assert SECRET not in log.getvalue()


async def test_a_github_ping_is_answered_and_ignored_and_a_bad_body_is_a_400() -> None:
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    async with _client({"github": SECRET}) as http:
        r = await http.post("/api/v1/hooks/git", content=ping,
                            headers={"X-GitHub-Event": "ping", **_signed(ping)})
        bad = await http.post("/api/v1/hooks/git", content=b"{}",
                              headers={"X-GitHub-Event": "push", **_signed(b"{}")})
        big = await http.post("/api/v1/hooks/git", content=b"x" * 4097, headers=_signed(b""))
    assert (r.status_code, r.json()) == (200, {"forge": "github", "ignored": "ping"})
    assert bad.status_code == 400 and "no repository URL" in bad.json()["detail"]
    assert big.status_code == 413


def test_a_bad_secrets_file_stops_the_server_naming_its_line_not_the_secret(
        tmp_path: Path) -> None:
    bad = tmp_path / "hooks.secrets"
    bad.write_text("github=tiny-secret\n")
    r = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path / "data"),
                                 "--webhook-secrets", str(bad), "--dev"])
    assert r.exit_code == 2
    assert f"{bad}:1: the secret of 'github' is shorter than 16" in " ".join(r.output.split())
    assert "tiny-secret" not in r.output
    assert not (tmp_path / "data").exists()  # refused before anything was made
