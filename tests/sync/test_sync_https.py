"""The CD controller syncs from the stack's HTTPS Git endpoint with `--git-token` and
`--git-ca-file`: the sync applies and pushes its tag over https; a wrong token or a
missing CA fails the fetch with a message that names the cause and holds no token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater import devstack
from headwater.cd import reasons
from headwater.cd.source import Source, from_mapping
from headwater.cli.app import app
from headwater.devstack.githttp import GitHttp
from tests.sync.conftest import Env, Repo, configmap, forget_cd_once, namespace

runner = CliRunner()


def _https(env: Env, repo: Repo, gh: GitHttp, git_repo: str, **options: object) -> Source:
    return env.source(repo, git_url=gh.url(git_repo), git_ssh_key=None, git_known_hosts=None,
                      **options)


async def test_a_sync_from_the_https_url_with_the_token(
    env: Env, repo: Repo, git_repo: str, git_http: GitHttp
) -> None:
    rev = repo.commit({"deploy/ns.yaml": namespace(env.ns),
                       "deploy/a.yaml": configmap("a", env.ns, {"k": "v"})})
    syncer = env.syncer(_https(env, repo, git_http, git_repo, git_path=("deploy",),
                               git_token=git_http.token, git_ca_file=git_http.ca_file))
    result = await syncer.sync()
    assert result.ok, result.message
    assert result.revision == rev
    cm = await env.configmap("a")
    assert cm and cm["data"] == {"k": "v"}
    assert repo.server_ref("refs/tags/headwater-sync^{}") == rev  # pushed over https


@pytest.mark.parametrize(("options", "cause"), [
    ({"git_token": "not-the-token", "git_ca_file": "CA"}, "authentication failed"),
    ({"git_ca_file": "CA"}, "authentication required"),
    ({"git_token": "TOKEN"}, "TLS: the server's certificate is not signed by a trusted CA"),
])
async def test_a_fetch_refused_by_the_https_server_names_the_cause_without_the_token(
    env: Env, repo: Repo, git_repo: str, git_http: GitHttp, monkeypatch: pytest.MonkeyPatch,
    *, options: dict[str, str], cause: str,
) -> None:
    monkeypatch.setenv("GIT_SSL_CAINFO", "/etc/ssl/certs/ca-certificates.crt")
    given = {k: {"CA": git_http.ca_file, "TOKEN": git_http.token}.get(v, v)
             for k, v in options.items()}
    repo.commit({"deploy/a.yaml": configmap("a", env.ns, {})})
    syncer = env.syncer(_https(env, repo, git_http, git_repo, **given))
    result = await syncer.sync()
    assert not result.ok
    assert result.reason == reasons.ARTIFACT_FAILED
    shown = json.dumps(result.to_json())  # what the source status reports
    assert cause in result.message
    assert git_http.url(git_repo) in result.message  # and which repository
    for secret in ("not-the-token", git_http.token, git_http.password):
        assert secret not in shown


def test_git_ca_file_is_a_source_key_of_the_config_file(tmp_path: Path) -> None:
    source = from_mapping({"git-url": "https://h/r.git", "git-ca-file": "~/ca.crt"},
                          where="f.yaml: sources[0]")
    assert source.git_ca_file == Path("~/ca.crt").expanduser()


def test_headwater_cd_once_with_git_token_and_git_ca_file(
    stack: devstack.StackInfo, git_repo: str, git_http: GitHttp, tmp_path: Path
) -> None:
    seed = Repo(stack, git_repo, tmp_path / "dev")
    ns = f"https-{git_repo[5:13]}"
    rev = seed.commit({"deploy/ns.yaml": namespace(ns), "deploy/a.yaml": configmap("a", ns, {})})
    assert stack.kubeconfig
    args = ["cd", "--once", "--git-url", git_http.url(git_repo), "--git-branch", "main",
            "--git-path", "deploy", "--kubeconfig", stack.kubeconfig, "--git-sync-tag",
            f"sync-{ns}", "--workdir", str(tmp_path / "work"), "--git-ca-file",
            str(git_http.ca_file)]
    try:
        wrong = runner.invoke(app, [*args, "--git-token", "not-the-token"])
        assert wrong.exit_code == 1
        assert "authentication failed" in wrong.output
        assert "not-the-token" not in wrong.output + wrong.stderr

        r = runner.invoke(app, [*args, "--git-token", git_http.token])
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout[r.stdout.index("["):])
        assert report[0]["ok"] is True and report[0]["revision"] == rev
        assert seed.server_ref(f"refs/tags/sync-{ns}^{{}}") == rev  # pushed over https
        assert git_http.token not in r.output + r.stderr
    finally:
        forget_cd_once(stack, ns)
