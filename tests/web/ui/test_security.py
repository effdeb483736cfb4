"""The UI's security rules, each proved by performing the attack on a real server:
cross-site and token-less form posts do nothing, the session cookie is not the token
and is HttpOnly/SameSite=Strict, a revoked token ends its sessions, an open redirect
after login goes home, and a var's value appears on no page.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import httpx

from tests.ci.server.conftest import Fly, Server
from tests.web.test_devguard_servers import dev_server
from tests.web.ui.conftest import form_csrf, session_client

__all__ = ["dev_server"]  # the fixture: a --dev server per test

SECRET = "hunter2-never-shown"
PIPELINE = """
resources:
- name: thing
  type: mock-less
  source: {password: ((secret))}
jobs:
- name: j
  plan:
  - task: t
    config:
      platform: linux
      params: {PASSWORD: ((secret))}
      run: {path: sh, args: [-c, 'echo "the password is $PASSWORD"']}
- name: k
  plan: [{get: thing}]
"""


def _set(fly: Fly, tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(textwrap.dedent(PIPELINE))
    code, out = fly("set-pipeline", "-p", "p", "-c", str(path), "-v", f"secret={SECRET}",
                    "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "p")
    assert code == 0, out


def _builds(server: Server) -> list[dict[str, object]]:
    with server.api() as api:
        found: list[dict[str, object]] = api.get("/builds", params={"pipeline": "p",
                                                                     "job": "j"}).json()
        return found


def test_a_post_without_the_csrf_token_or_from_another_origin_does_nothing(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    _set(fly, tmp_path)
    with session_client(ci_server) as client, httpx.Client(base_url=ci_server.url) as anon:
        _attack_forms(ci_server, client, anon)


def _attack_forms(ci_server: Server, client: httpx.Client, anonymous: httpx.Client) -> None:
    trigger = "/teams/main/pipelines/p/jobs/j/trigger"
    csrf = form_csrf(client.get("/teams/main/pipelines/p/jobs/j").text)
    own = {"Origin": ci_server.url}
    attacks = [
        ({}, own),  # no token in the form
        ({"csrf": "guessed"}, own),  # a wrong one
        ({"csrf": csrf}, {"Origin": "http://evil.example"}),  # right token, other site
        ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
        ({"csrf": csrf}, {"Referer": "http://evil.example/page"}),
    ]
    for data, headers in attacks:
        r = client.post(trigger, data=data, headers=headers)
        assert r.status_code == 403, (data, headers, r.text)
    # without the session cookie (a page of another site cannot send it: SameSite)
    assert anonymous.post(trigger, data={"csrf": csrf}, headers=own).status_code == 403
    assert anonymous.post("/teams/main/pipelines/p/pause", data={"csrf": csrf}
                          ).status_code == 403
    assert _builds(ci_server) == []
    with ci_server.api() as api:
        assert api.get("/teams/main/pipelines/p").json()["paused"] is False
    # the same form, done right, triggers
    r = client.post(trigger, data={"csrf": csrf}, headers=own)
    assert r.status_code == 303
    assert len(_builds(ci_server)) == 1


def test_login_is_refused_from_another_site_and_with_a_wrong_token(
        ci_server: Server) -> None:
    with httpx.Client(base_url=ci_server.url) as client:
        _attack_login(ci_server, client)


def _attack_login(ci_server: Server, client: httpx.Client) -> None:
    csrf = form_csrf(client.get("/login").text)
    data = {"csrf": csrf, "token": ci_server.token, "next": "/"}
    r = client.post("/login", data=data, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/login", data={**data, "csrf": "forged"})
    assert r.status_code == 403
    r = client.post("/login", data={**data, "token": "not-a-token"})
    assert r.status_code == 401
    assert "hw_session" not in client.cookies
    # next= that leaves the server goes home instead (no open redirect)
    r = client.post("/login", data={**data, "next": "//evil.example/x"})
    assert (r.status_code, r.headers["location"]) == (303, "/")


def test_the_session_cookie_is_random_httponly_strict_and_ends_with_its_token(
        ci_server: Server) -> None:
    with ci_server.api() as api:
        token = api.post("/tokens", json={"name": "ui"}).json()["token"]
    with httpx.Client(base_url=ci_server.url) as client:
        _session_ends_with_its_token(ci_server, client, token)


def _session_ends_with_its_token(ci_server: Server, client: httpx.Client,
                                 token: str) -> None:
    csrf = form_csrf(client.get("/login").text)
    r = client.post("/login", data={"csrf": csrf, "token": token, "next": "/"})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
    assert token not in cookie
    assert client.get("/").status_code == 200
    with ci_server.api() as api:
        assert api.delete("/tokens/ui").status_code == 204
    r = client.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2F")
    assert client.get("/ui/builds/1/lines").status_code == 401


def test_a_vars_value_appears_on_no_page(ci_server: Server, fly: Fly,
                                        tmp_path: Path) -> None:
    _set(fly, tmp_path)
    code, out = fly("trigger-job", "-j", "p/j", "-w")
    assert code == 0, out
    assert "the password is ((redacted))" in out
    fly("check-resource", "-r", "p/thing")  # fails: its type does not exist
    build = _builds(ci_server)[0]
    pages = ["/", "/teams/main/pipelines/p", "/teams/main/pipelines/p/jobs/j",
             f"/teams/main/pipelines/p/jobs/j/builds/{build['name']}",
             f"/builds/{build['id']}", "/teams/main/pipelines/p/resources/thing",
             f"/ui/builds/{build['id']}/lines", f"/ui/builds/{build['id']}/lines?start=0",
             f"/ui/builds/{build['id']}/events"]
    with session_client(ci_server) as client:
        for path in pages:
            r = client.get(path)
            assert r.status_code == 200, path
            assert SECRET not in r.text, path
        assert "((secret))" in client.get("/teams/main/pipelines/p").text
        # the failed check, in plain words, without the source's password
        resource = client.get("/teams/main/pipelines/p/resources/thing").text
        assert "The last check failed" in resource
        assert "type is not known to the server" in resource
        assert "((redacted))" in client.get(f"/ui/builds/{build['id']}/lines").text


def test_dev_mode_needs_no_login_but_still_refuses_cross_site_posts(
        dev_server: Server, tmp_path: Path) -> None:
    with httpx.Client(base_url=dev_server.url) as client, \
            httpx.Client(base_url=dev_server.url + "/api/v1") as api:
        _dev_mode(client, api, tmp_path)


def _dev_mode(client: httpx.Client, api: httpx.Client, tmp_path: Path) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "Log out" not in r.text
    path = tmp_path / "p.yml"
    path.write_text("jobs: [{name: j, plan: [{task: t, config: {platform: linux, "
                    "run: {path: 'true'}}}]}]\n")
    assert api.put("/teams/main/pipelines/p/config",
                   json={"config": path.read_text()}).status_code == 200
    csrf = form_csrf(client.get("/teams/main/pipelines/p").text)
    r = client.post("/teams/main/pipelines/p/unpause", data={"csrf": csrf},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert api.get("/teams/main/pipelines/p").json()["paused"] is True
    r = client.post("/teams/main/pipelines/p/unpause", data={"csrf": "wrong"})
    assert r.status_code == 403
    r = client.post("/teams/main/pipelines/p/unpause", data={"csrf": csrf})
    assert r.status_code == 303
    assert api.get("/teams/main/pipelines/p").json()["paused"] is False
