"""Secrets at rest and in output, on a real `headwater server`: the database files'
modes, `--encryption-key` (raw rows read with sqlite3 hold no var value, builds still
run, rotation, wrong and missing keys), redacted check errors, login without the
token in argv, token create/list/revoke, and a webhook that answers the same for
every kind of miss."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.devstack.ports import pick
from tests.ci.server.conftest import Fly, Server, write_type
from tests.ci.server.resource_types import FILE_TYPE

PASSWORD = "pa55-w0rd-of-the-day"
PIN = 987654
KEY = "0123456789abcdef0123456789abcdef"
NEW_KEY = "fedcba9876543210fedcba9876543210"

PIPELINE = """
    resources:
    - name: src
      type: file
      source: {{file: {versions}, password: ((password))}}
    jobs:
    - name: use
      plan:
      - get: src
      - task: show
        config:
          platform: linux
          params: {{PW: ((password)), PIN: ((pin))}}
          run: {{path: sh, args: [-c, 'echo "pw=$PW pin=$PIN"']}}
    """


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dump(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "headwater.db") as conn:
        return "\n".join(conn.iterdump())


def _set(fly: Fly, tmp_path: Path, name: str, text: str, *extra: str) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(text))
    code, out = fly("set-pipeline", "-p", name, "-c", str(path), "-n", *extra)
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", name)
    assert code == 0, out


@pytest.fixture
def keyed_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("HEADWATER_ENCRYPTION_KEY", KEY)
    data = tmp_path / "server"
    data.mkdir()
    (data / "resource-types").mkdir()
    server = Server(data_dir=data, port=pick(None, set()))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _fly(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fly:
    monkeypatch.setenv("HEADWATER_CONFIG_DIR", str(tmp_path / "config"))
    f = Fly(server, CliRunner())
    code, out = f("login", "-c", server.url, "--token-stdin", input=server.token + "\n")
    assert code == 0, out
    return f


def test_with_an_encryption_key_the_database_holds_no_var_value_and_builds_run(
        keyed_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = keyed_server
    fly = _fly(server, tmp_path, monkeypatch)
    write_type(server, "file", FILE_TYPE)
    versions = tmp_path / "versions"
    versions.write_text("1.0.0\n")
    _set(fly, tmp_path, "p", PIPELINE.format(versions=versions),
         "-v", f"password={PASSWORD}", "-y", f"pin={PIN}")
    code, out = fly("check-resource", "-r", "p/src")
    assert code == 0, out
    code, out = fly("trigger-job", "-j", "p/use", "-w")
    assert code == 0, out
    assert "pw=((redacted)) pin=((redacted))" in out, out
    code, out = fly("get-pipeline", "-p", "p")
    assert code == 0 and "((password))" in out and PASSWORD not in out, out

    # The files: a 0700 data dir and 0600 database files.
    assert _mode(server.data_dir) == 0o700
    db_files = sorted(server.data_dir.glob("headwater.db*"))
    assert db_files and all(_mode(f) == 0o600 for f in db_files), db_files
    # The raw rows and bytes, read behind the server's back: no value of a var.
    dump = _dump(server.data_dir)
    assert PASSWORD not in dump and str(PIN) not in dump
    assert "enc:v1:" in dump
    raw = b"".join(f.read_bytes() for f in db_files)
    assert PASSWORD.encode() not in raw and str(PIN).encode() not in raw
    assert "no --encryption-key" not in server.log.read_text()

    # Restarted without the key, or with a wrong one: refused, with what to do.
    server.stop()
    monkeypatch.delenv("HEADWATER_ENCRYPTION_KEY")
    with pytest.raises(RuntimeError, match="start the server with --encryption-key"):
        server.start()
    server.stop()
    monkeypatch.setenv("HEADWATER_ENCRYPTION_KEY", NEW_KEY)
    with pytest.raises(RuntimeError, match="does not open this database"):
        server.start()
    server.stop()
    assert _dump(server.data_dir) == dump  # nothing was overwritten

    # Rotated with the old key: the rows change, the pipeline and its builds work.
    monkeypatch.setenv("HEADWATER_OLD_ENCRYPTION_KEY", KEY)
    server.start()
    rotated = _dump(server.data_dir)
    assert rotated != dump and PASSWORD not in rotated
    code, out = fly("trigger-job", "-j", "p/use", "-w")
    assert code == 0 and "pw=((redacted)) pin=((redacted))" in out, out
    server.stop()
    monkeypatch.delenv("HEADWATER_OLD_ENCRYPTION_KEY")
    server.start()  # the new key alone opens it now
    code, out = fly("builds", "-j", "p/use", "--json")
    assert code == 0 and [b["status"] for b in json.loads(out)] == ["succeeded"] * 2, out


def test_a_bad_key_is_refused_before_the_server_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path / "d"),
                                      "--encryption-key", "too-short"])
    assert result.exit_code == 2
    assert "must be exactly 32 bytes" in result.output
    assert "visible to other users" in result.output  # a key in argv shows in ps


def test_without_a_key_the_server_warns_once(ci_server: Server) -> None:
    lines = [line for line in ci_server.log.read_text().splitlines()
             if "no --encryption-key" in line]
    assert len(lines) == 1, lines
    assert "level=warning" in lines[0]


LEAKY_CHECK = r"""#!/bin/bash
payload=$(cat)
echo "cannot log in to $(jq -c .source <<<"$payload")" >&2
exit 1
"""


def test_a_check_error_carrying_the_script_output_is_redacted(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    write_type(ci_server, "leaky", {"check": LEAKY_CHECK, "in": LEAKY_CHECK,
                                    "out": LEAKY_CHECK})
    _set(fly, tmp_path, "leak", """
        resources:
        - name: r
          type: leaky
          source: {password: ((password)), pin: ((pin))}
        jobs:
        - {name: j, plan: [{get: r}]}
        """, "-v", f"password={PASSWORD}", "-y", f"pin={PIN}")
    code, out = fly("check-resource", "-r", "leak/r")
    assert code != 0
    assert PASSWORD not in out and str(PIN) not in out and "((redacted))" in out, out
    code, out = fly("resources", "-p", "leak", "--json")
    assert code == 0, out
    [row] = json.loads(out)
    assert "cannot log in to" in row["check_error"]
    assert PASSWORD not in row["check_error"] and str(PIN) not in row["check_error"]
    assert row["check_error"].count("((redacted))") == 2, row


def _cli(args: list[str], *, input: str | None = None,
         env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, input=input, env=env)
    return result.exit_code, result.output


def test_login_takes_the_token_from_stdin_env_or_a_prompt_never_only_argv(
        ci_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("HEADWATER_TOKEN", raising=False)
    url, token = ci_server.url, ci_server.token
    code, out = _cli(["-t", "stdin", "login", "-c", url, "--token-stdin"], input=token)
    assert code == 0 and "target saved" in out, out
    code, out = _cli(["-t", "env", "login", "-c", url], env={"HEADWATER_TOKEN": token})
    assert code == 0 and "target saved" in out, out
    code, out = _cli(["-t", "prompt", "login", "-c", url], input=token + "\n")
    assert code == 0 and "target saved" in out and token not in out, out
    for name in ("stdin", "env", "prompt"):
        code, out = _cli(["-t", name, "pipelines"])
        assert code == 0, (name, out)
    # --token still works, with a warning; a wrong token is refused and not saved.
    code, out = _cli(["-t", "argv", "login", "-c", url, "--token", token])
    assert code == 0 and "visible to other users" in out, out
    code, out = _cli(["-t", "bad", "login", "-c", url], env={"HEADWATER_TOKEN": "nope"})
    assert code == 2 and "not authorized" in out, out
    code, out = _cli(["-t", "bad", "pipelines"])
    assert code == 2 and "unknown target 'bad'" in out, out
    saved = (tmp_path / "config" / "targets.yml")
    assert _mode(saved) == 0o600


def test_tokens_are_created_listed_and_revoked_and_a_revoked_token_gets_401(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    code, out = fly("create-token", "deployer")
    assert code == 0, out
    new = out.split()[-1]
    code, out = fly("create-token", "deployer")
    assert code == 2 and "exists" in out, out
    headers = {"Authorization": f"Bearer {new}"}
    api = ci_server.url + "/api/v1"
    assert httpx.get(api + "/teams/main/pipelines", headers=headers).status_code == 200

    code, out = fly("tokens", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["admin", "deployer"]
    assert all(set(r) == {"id", "name", "created_at"} for r in rows)
    assert new not in out and ci_server.token not in out
    dump = _dump(ci_server.data_dir)  # only hashes are stored
    assert new not in dump and ci_server.token not in dump

    code, out = fly("revoke-token", "deployer")
    assert code == 0 and "revoked" in out, out
    assert httpx.get(api + "/teams/main/pipelines", headers=headers).status_code == 401

    # The last token: the server refuses without force, the CLI asks first.
    admin = {"Authorization": f"Bearer {ci_server.token}"}
    refused = httpx.delete(api + "/tokens/admin", headers=admin)
    assert refused.status_code == 409 and refused.json()["last_token"] is True
    code, out = fly("revoke-token", "admin", input="n\n")
    assert code != 0 and "last token" in out, out
    assert httpx.get(api + "/tokens", headers=admin).status_code == 200
    code, out = fly("revoke-token", str(rows[0]["id"]), input="y\n")
    assert code == 0, out
    assert httpx.get(api + "/tokens", headers=admin).status_code == 401


def test_the_webhook_answers_the_same_to_every_kind_of_miss(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    write_type(ci_server, "file", FILE_TYPE)
    versions = tmp_path / "versions"
    versions.write_text("1\n")
    _set(fly, tmp_path, "hooked", f"""
        resources:
        - name: with-hook
          type: file
          source: {{file: {versions}}}
          webhook_token: ((hook))
          check_every: never
        - name: no-hook
          type: file
          source: {{file: {versions}}}
          check_every: never
        jobs:
        - {{name: j, plan: [{{get: with-hook}}, {{get: no-hook}}]}}
        """, "-v", "hook=the-real-hook-token")
    base = ci_server.url + "/api/v1/teams/main/pipelines"

    def post(pipeline: str, resource: str, token: str) -> httpx.Response:
        return httpx.post(f"{base}/{pipeline}/resources/{resource}/check/webhook",
                          params={"webhook_token": token})

    misses = [post("nope", "with-hook", "x"),  # unknown pipeline
              post("hooked", "nope", "x"),  # unknown resource
              post("hooked", "with-hook", "wrong"),  # wrong token
              post("hooked", "no-hook", ""),  # no webhook token at all
              post("hooked", "with-hook", "")]
    answers = {(r.status_code, r.content, r.headers["content-type"],
                r.headers["content-length"]) for r in misses}
    assert answers == {(401, b'{"detail":"invalid webhook token"}', "application/json",
                        "34")}, answers
    assert post("hooked", "with-hook", "the-real-hook-token").status_code == 201
    with sqlite3.connect(ci_server.data_dir / "headwater.db") as conn:
        stored = {r[0] for r in conn.execute("SELECT webhook_token_sha256 FROM resources")}
    assert stored == {None, hashlib.sha256(b"the-real-hook-token").hexdigest()}

