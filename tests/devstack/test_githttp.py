"""The stack's HTTPS Git endpoint: real `git clone` and `git push` over TLS with the
stack's password or token succeed; without credentials, with wrong ones or without the
stack's CA they fail saying why; secrets stay out of the server's log.

The endpoint is the stack's (`git_http` fixture: started in a temporary directory when
the running stack has none) and serves the stack's Git server repositories.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from headwater import devstack
from headwater.devstack import githttp, process
from headwater.devstack.githttp import GitHttp
from headwater.devstack.githttpd import (
    TOKEN_USER,
    Credentials,
    Denied,
    authorize,
    cgi_path,
    parse_cgi_headers,
)
from headwater.devstack.layout import Layout
from headwater.gitrepo import GitAuth, GitError
from headwater.gitrepo.run import git as run_git

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CREDS = Credentials(username="headwater", password="pw-0123456789", token="tk-abcdefghij")


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


# --- who a request is (pure) ----------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    (None, Denied.MISSING),
    ("", Denied.MISSING),
    ("   ", Denied.MISSING),
    (_basic("headwater:pw-0123456789"), "headwater"),
    ("basic " + _basic("headwater:pw-0123456789")[6:], "headwater"),  # scheme: any case
    (_basic("headwater:wrong"), Denied.WRONG),
    (_basic("someone:pw-0123456789"), Denied.WRONG),  # the password is the user's only
    (_basic("headwater:"), Denied.WRONG),
    (_basic("headwater"), Denied.WRONG),               # no colon
    (_basic("x-access-token:tk-abcdefghij"), TOKEN_USER),  # GitAuth(token=...)
    (_basic("anyone:tk-abcdefghij"), TOKEN_USER),      # any user with the token
    (_basic("x-access-token:tk-wrong"), Denied.WRONG),
    ("Bearer tk-abcdefghij", TOKEN_USER),
    ("bearer tk-abcdefghij", TOKEN_USER),
    ("Bearer tk-wrong", Denied.WRONG),
    ("Bearer ", Denied.WRONG),
    ("Bearer pw-0123456789", Denied.WRONG),            # the password is no token
    ("Basic !!!not-base64", Denied.WRONG),
    ("Basic " + base64.b64encode(b"headwater:\xff\xfe").decode(), Denied.WRONG),
    ("Digest username=headwater", Denied.WRONG),
    ("tk-abcdefghij", Denied.WRONG),                   # a bare token, no scheme
])
def test_authorize_names_the_user_or_why_not(header: str | None,
                                             expected: str | Denied) -> None:
    assert authorize(header, CREDS) == expected


@pytest.mark.parametrize(("path", "ok"), [
    ("/app.git/info/refs", True),
    ("/app.git/git-receive-pack", True),
    ("/team/app.git/HEAD", True),
    ("/", False),
    ("//etc/passwd", False),
    ("/../etc/passwd", False),
    ("/app.git/../../../etc", False),
    ("/./app.git/info/refs", False),
    ("/app.git\\..\\x", False),
    ("/app.git/\0", False),
    ("/a\nb", False),
    ("/" + "a" * 2000, False),
    ("app.git", False),
])
def test_cgi_path_keeps_requests_under_the_repositories(path: str, ok: bool) -> None:
    assert (cgi_path(path) == path) is ok


def test_cgi_headers_give_the_status_and_drop_hop_by_hop_ones() -> None:
    status, reason, headers = parse_cgi_headers([
        b"Status: 404 Not Found\r\n", b"Content-Type: text/plain\r\n",
        b"Transfer-Encoding: chunked\r\n", b"Expires: Fri, 01 Jan 1980 00:00:00 GMT\n"])
    assert (status, reason) == (404, "Not Found")
    assert headers == [("Content-Type", "text/plain"),
                       ("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")]
    assert parse_cgi_headers([b"Content-Type: x\r\n"])[:2] == (200, "OK")
    with pytest.raises(ValueError, match="not a header line"):
        parse_cgi_headers([b"garbage\r\n"])


# --- real git against the endpoint ------------------------------------------------------

def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "T",
            "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@example.com", **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, text=True, capture_output=True,
                          check=False)


def _head(gh: GitHttp, repo: str) -> str | None:
    shown = _git("--git-dir", str(gh.repos / repo), "rev-parse", "--verify", "-q", "main")
    return shown.stdout.strip() or None


def _commit(work: Path, name: str, data: bytes) -> str:
    (work / name).write_bytes(data)
    assert _git("add", name, cwd=work).returncode == 0
    assert _git("commit", "-q", "-m", f"add {name}", cwd=work).returncode == 0
    return _git("rev-parse", "HEAD", cwd=work).stdout.strip()


async def _clone_commit_push(gh: GitHttp, repo: str, auth: GitAuth, work: Path, *,
                             name: str, data: bytes) -> str:
    """Clone `repo` over https with `auth`, commit `name`, push it; the new head."""
    url = gh.url(repo)
    env, secrets = auth.env(url), auth.secrets(url)
    await run_git("clone", "-q", url, str(work), env=env, timeout=60, url=url, secrets=secrets)
    head = _commit(work, name, data)
    await run_git("push", "-q", url, "HEAD:main", cwd=work, env=env, timeout=300, url=url,
                  secrets=secrets)
    return head


@pytest.fixture
def system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on many CI machines: git told to trust the system bundle (which git prefers
    to any http.sslCAInfo), so only an explicit CA can make the stack's trusted."""
    monkeypatch.setenv("GIT_SSL_CAINFO", SYSTEM_BUNDLE)


@pytest.mark.stack
@pytest.mark.usefixtures("system_cas")
async def test_clone_and_push_with_the_user_and_password(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    head = await _clone_commit_push(git_http, git_repo, git_http.basic_auth(), tmp_path / "w",
                                    name="a.txt", data=b"a\n")
    assert _head(git_http, git_repo) == head


@pytest.mark.stack
@pytest.mark.usefixtures("system_cas")
async def test_clone_and_push_with_the_token_as_basic_and_as_bearer(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    # Over git's 1 MiB http.postBuffer: a chunked upload, streamed to http-backend.
    big = await _clone_commit_push(git_http, git_repo, git_http.token_auth(), tmp_path / "w",
                                   name="big.bin", data=os.urandom(3 * 1024 * 1024))
    assert _head(git_http, git_repo) == big
    url = git_http.url(git_repo)

    bearer = {"GIT_SSL_CAINFO": str(git_http.ca_file), "GIT_CONFIG_COUNT": "1",
              "GIT_CONFIG_KEY_0": "http.extraHeader",
              "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {git_http.token}"}
    again = tmp_path / "again"
    cloned = _git("clone", "-q", url, str(again), env=bearer)
    assert cloned.returncode == 0, cloned.stderr
    assert (again / "big.bin").stat().st_size == 3 * 1024 * 1024
    head = _commit(again, "b.txt", b"b\n")
    pushed = _git("push", "-q", "origin", "HEAD:main", cwd=again, env=bearer)
    assert pushed.returncode == 0, pushed.stderr
    assert _head(git_http, git_repo) == head


@pytest.mark.stack
async def test_without_credentials_clone_and_push_are_refused(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    url, ca = git_http.url(git_repo), {"GIT_SSL_CAINFO": str(git_http.ca_file)}
    seeded = tmp_path / "seed"
    assert _git("clone", "-q", url, str(seeded), env={**ca, **_token_env(git_http)}
                ).returncode == 0
    first = _commit(seeded, "a.txt", b"a\n")
    assert _git("push", "-q", "origin", "HEAD:main", cwd=seeded,
                env={**ca, **_token_env(git_http)}).returncode == 0

    clone = _git("clone", url, str(tmp_path / "anon"), env=ca)
    assert clone.returncode != 0
    assert "could not read Username" in clone.stderr  # git asked for credentials
    with pytest.raises(GitError, match="authentication required"):
        await run_git("clone", url, str(tmp_path / "anon2"), timeout=60, url=url,
                      env=GitAuth(ca_file=git_http.ca_file).env(url))

    _commit(seeded, "b.txt", b"b\n")  # an anonymous push: the attack
    push = _git("push", url, "HEAD:main", cwd=seeded, env=ca)
    assert push.returncode != 0
    assert "could not read Username" in push.stderr
    assert _head(git_http, git_repo) == first


def _token_env(gh: GitHttp) -> dict[str, str]:
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {gh.token}"}


@pytest.mark.stack
@pytest.mark.parametrize("wrong", ["password", "token", "user"])
async def test_wrong_credentials_are_refused_saying_authentication_failed(
    git_http: GitHttp, git_repo: str, tmp_path: Path, wrong: str
) -> None:
    url = git_http.url(git_repo)
    auth = {"password": GitAuth(username="headwater", password="not-the-password",
                                ca_file=git_http.ca_file),
            "token": GitAuth(token="not-the-token", ca_file=git_http.ca_file),
            "user": GitAuth(username="intruder", password=git_http.password,
                            ca_file=git_http.ca_file)}[wrong]
    with pytest.raises(GitError) as caught:
        await run_git("clone", url, str(tmp_path / "w"), env=auth.env(url), timeout=60,
                      url=url, secrets=auth.secrets(url))
    message = str(caught.value)
    assert "authentication failed" in message
    assert "not-the-password" not in message and "not-the-token" not in message
    assert git_http.password not in message

    # plain git, credentials in the URL: the server's reason reaches the person too
    plain = _git("clone", f"https://headwater:nope@127.0.0.1:{git_http.port}/{git_repo}",
                 str(tmp_path / "plain"), env={"GIT_SSL_CAINFO": str(git_http.ca_file)})
    assert plain.returncode != 0
    assert "authentication failed" in plain.stderr


@pytest.mark.stack
@pytest.mark.usefixtures("system_cas")
async def test_a_client_without_the_stacks_ca_is_refused(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    url = git_http.url(git_repo)
    auth = GitAuth(username=git_http.username, password=git_http.password)  # no ca_file
    with pytest.raises(GitError, match="TLS: the server's certificate is not signed"):
        await run_git("clone", url, str(tmp_path / "w"), env=auth.env(url), timeout=60,
                      url=url, secrets=auth.secrets(url))
    system = ssl.create_default_context(cafile=SYSTEM_BUNDLE)
    async with httpx.AsyncClient(verify=system) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(git_http.url(""))


@pytest.mark.stack
def test_http_answers_without_and_with_wrong_credentials_and_outside_the_repositories(
    git_http: GitHttp,
) -> None:
    verify = ssl.create_default_context(cafile=str(git_http.ca_file))
    with httpx.Client(verify=verify, timeout=10) as http:
        refs = git_http.url("x.git/info/refs?service=git-upload-pack")
        anon = http.get(refs)
        assert anon.status_code == 401
        assert anon.headers["WWW-Authenticate"] == 'Basic realm="headwater git"'
        wrong = http.get(refs, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        assert "authentication failed" in wrong.text
        good = {"Authorization": f"Bearer {git_http.token}"}
        # the attack: reach a file outside the repositories, raw and encoded
        for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/x.git/..%2f..%2f..%2fetc%2fpasswd"):
            r = http.get(httpx.URL(git_http.url("")).copy_with(raw_path=path.encode()),
                         headers=good)
            assert r.status_code in (400, 404), path
            assert "root:" not in r.text
        assert http.put(git_http.url("x.git/info/refs"), headers=good).status_code == 405


@pytest.mark.stack
def test_oversized_request_headers_are_refused(git_http: GitHttp) -> None:
    verify = ssl.create_default_context(cafile=str(git_http.ca_file))
    with httpx.Client(verify=verify, timeout=10) as http:
        r = http.get(git_http.url("x.git/info/refs"),
                     headers={"Authorization": f"Bearer {git_http.token}",
                              "X-Filler": "a" * 100_000})
        assert r.status_code == 400
        many = {f"X-H{i}": "v" for i in range(200)}
        assert http.get(git_http.url("x.git/info/refs"), headers=many).status_code == 400
    # and the server still answers
    assert githttp.healthy(git_http)


@pytest.mark.stack
def test_a_body_announced_over_the_limit_is_refused_before_git_runs(git_http: GitHttp) -> None:
    context = ssl.create_default_context(cafile=str(git_http.ca_file))
    with socket.create_connection(("127.0.0.1", git_http.port), 10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /x.git/git-receive-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Authorization: Bearer " + git_http.token.encode() + b"\r\n"
                    b"Content-Type: application/x-git-receive-pack-request\r\n"
                    b"Content-Length: 3000000000\r\n\r\n")
        status_line = tls.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


@pytest.mark.stack
async def test_the_password_and_token_never_reach_the_servers_log(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    url = git_http.url(git_repo)
    for i, auth in enumerate([git_http.basic_auth(), git_http.token_auth(),
                              GitAuth(username="headwater", password="wrong-pw-secret",
                                      ca_file=git_http.ca_file)]):
        with contextlib.suppress(GitError):  # the wrong password's clone fails
            await run_git("clone", "-q", url, str(tmp_path / str(i)), env=auth.env(url),
                          timeout=60, url=url)
    _git("clone", "-q", f"https://headwater:{git_http.password}@127.0.0.1:{git_http.port}/"
         f"{git_repo}", str(tmp_path / "inurl"), env={"GIT_SSL_CAINFO": str(git_http.ca_file)})
    log = git_http.log_file.read_text()
    assert "user=headwater bytes_in=" in log and "user=token" in log  # it did log them
    assert 'reason="wrong credentials"' in log
    for secret in (git_http.password, git_http.token, "wrong-pw-secret",
                   base64.b64encode(f"headwater:{git_http.password}".encode()).decode(),
                   base64.b64encode(f"x-access-token:{git_http.token}".encode()).decode(),
                   base64.b64encode(b"headwater:wrong-pw-secret").decode()):
        assert secret not in log


def test_up_starts_the_endpoint_with_private_credentials_and_down_stops_it() -> None:
    state = Path(tempfile.mkdtemp(prefix="hwgh-up-", dir="/tmp"))
    try:
        info = devstack.up(state, devstack.Options(cluster=False))
        loaded = devstack.load(state)
        assert loaded is not None
        gh = loaded.git_http  # as any other code reads it
        assert gh is not None
        assert githttp.NAME in info.components
        for secret in (gh.password_file, gh.token_file, gh.home / "config.json"):
            assert secret.stat().st_mode & 0o777 == 0o600
        assert gh.password and gh.token and gh.password != gh.token
        assert gh.ca_file == state / "pki" / "ca.crt"
        status = {c.name: c for c in devstack.check(loaded)}
        assert status[githttp.NAME].healthy
        config = (gh.home / "config.json").read_text()
        assert gh.password not in config and gh.token not in config
        proc = process.load(githttp.NAME, info.layout)
        assert proc and process.is_alive(proc)
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:  # nothing secret in `ps`
            argv = f.read()
        assert gh.password.encode() not in argv and gh.token.encode() not in argv
        devstack.down(state)
        assert not process.is_alive(proc)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", gh.port), 1):
            pass
    finally:
        devstack.down(state, purge=True)


def _peak_rss(gh: GitHttp) -> int:
    """The server's peak resident memory so far (VmHWM), in bytes."""
    proc = process.load(githttp.NAME, Layout(gh.home.parents[1]))
    assert proc is not None and process.is_alive(proc)
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.stack
async def test_a_big_push_and_its_clone_stream_through_the_server(
    git_http: GitHttp, git_repo: str, tmp_path: Path
) -> None:
    url, auth = git_http.url(git_repo), git_http.token_auth()
    size = 64 * 1024 * 1024
    before = _peak_rss(git_http)
    head = await _clone_commit_push(git_http, git_repo, auth, tmp_path / "w", name="big.bin",
                                    data=os.urandom(size))  # incompressible: as big a pack
    await run_git("clone", "-q", url, str(tmp_path / "c"), env=auth.env(url), timeout=300,
                  url=url)
    assert _head(git_http, git_repo) == head
    assert (tmp_path / "c" / "big.bin").stat().st_size == size
    grown = _peak_rss(git_http) - before
    assert grown < size // 4, f"the server's peak memory grew by {grown >> 20} MiB"
