"""The CD page in a real browser (Debian's chromium) against a real server.

Without a CD source the page says how to add one. With a source on the stack's Git
server (a Deployment with no replicas, its image's tags in the stack's registry):
the source's state and synced revision, the workload's image, policy and the newer
tag, and the buttons: Lock, Unlock, a release of the newer tag and Automate each push
the CLI's commit to the repository, seen with plain git. A second source whose URL
carries a password and whose token is set shows neither on the page. Every page gets
a screenshot, every control a label, every badge 4.5:1 contrast as rendered, and the
page fits a phone's width. The timeline with every hop is in
tests/story/test_demo_browser.py, after a run of `headwater demo`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, expect

from headwater.devstack import StackInfo
from headwater.devstack.ports import pick
from headwater.web.ui.colors import contrast
from tests.cd.test_verbs import push_image
from tests.ci.server.conftest import Server, wait_for
from tests.ci.server.test_one_server_e2e import _kubectl
from tests.gitseed import plain_git
from tests.stack.helpers import deployment
from tests.sync.conftest import INVENTORY_NS, Repo, namespace
from tests.web.ui.conftest import UI, form_csrf, session_client
from tests.web.ui.test_pages_browser import accessible

SECRET_PASSWORD = "pa55-in-the-url-" + uuid.uuid4().hex[:8]
SECRET_TOKEN = "tok-" + uuid.uuid4().hex

# Each badge's text colour against its background, as the browser drew them.
BADGE_COLOURS = """() => [...document.querySelectorAll('.badge')].map(e => {
  const s = getComputedStyle(e);
  return [e.textContent.trim(), s.color, s.backgroundColor];
})"""


def _hex(rgb: str) -> str:
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def readable(page: Page) -> None:
    """Labels, language and title (as every page), and every badge at 4.5:1."""
    accessible(page)
    for text, fg, bg in page.evaluate(BADGE_COLOURS):
        assert contrast(_hex(fg), _hex(bg)) >= 4.5, (page.url, text, fg, bg)


def fits_a_phone(ui: UI, path: str, name: str) -> None:
    page = ui.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(ui.url(path))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        ui.shot(f"phone-{name}")
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})


def test_the_cd_page_without_a_source_says_how_to_add_one(ui: UI) -> None:
    ui.login()
    page = ui.page
    page.get_by_role("link", name="CD", exact=True).click()
    page.wait_for_url(ui.url("/cd"))
    expect(page.get_by_role("heading", name="No CD source yet")).to_be_visible()
    expect(page.locator("main")).to_contain_text("--cd-config")
    readable(page)
    ui.shot("cd-no-source")
    # a form for a source that is not there does nothing and says why
    page.goto(ui.url("/cd/releases/app/" + "a" * 40))
    expect(page.locator("p.error")).to_contain_text("no CD source")
    fits_a_phone(ui, "/cd", "cd-no-source")


def _deployment(ns: str, image: str) -> str:
    """A Deployment with no replicas (no pod to pull), a tag policy, not automated."""
    d = deployment(ns, image, replicas=0)
    d["metadata"]["annotations"] = {"fluxcd.io/tag.web": "semver:~1.0"}
    return yaml.safe_dump(d)


class CDServer:
    def __init__(self, server: Server, repo: Repo, source: str, ns: str, image: str) -> None:
        self.server, self.repo, self.source, self.ns, self.image = (
            server, repo, source, ns, image)

    def subjects(self) -> list[str]:
        """The repository's commit subjects on the Git server, newest first."""
        plain_git("fetch", "-q", "origin", cwd=self.repo.work)
        return plain_git("log", "--format=%s", "origin/main", cwd=self.repo.work).splitlines()

    def file(self) -> str:
        return plain_git("show", "origin/main:deploy/app.yaml", cwd=self.repo.work)


@pytest.fixture
def cd_server(stack: StackInfo, git_repo: str, tmp_path: Path) -> Iterator[CDServer]:
    assert stack.kubeconfig
    suffix = uuid.uuid4().hex[:8]
    ns, source = f"cdui-{suffix}", f"cdui-{suffix}"
    image_repo = f"cdui-{suffix}/app"
    image = push_image(stack, image_repo, "1.0.0", "2026-01-01T00:00:00Z")
    push_image(stack, image_repo, "1.0.1", "2026-01-02T00:00:00Z")
    repo = Repo(stack, git_repo, tmp_path / "dev")
    repo.commit({"deploy/ns.yaml": namespace(ns), "deploy/app.yaml": _deployment(ns, image)})
    config = tmp_path / "cd.yml"
    config.write_text(yaml.safe_dump({"sources": [
        {"name": source, "git-url": repo.url, "git-branch": "main", "git-path": ["deploy"],
         "git-ssh-key": str(stack.git.deploy_key),
         "git-known-hosts": str(stack.git.known_hosts),
         "git-poll-interval": "1h", "sync-interval": "1h", "registry-poll-interval": "1h"},
        # never reachable: its URL's password and its token must not be rendered
        {"name": "secret-url", "git-url": f"https://deploy:{SECRET_PASSWORD}@127.0.0.1:9/x.git",
         "git-token": SECRET_TOKEN, "git-timeout": "2s", "git-poll-interval": "1h",
         "sync-interval": "1h", "registry-disable-scanning": True}]}))
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()), args=[
        "--cd-config", str(config), "--kubeconfig", stack.kubeconfig,
        *(["--kubectl", stack.kubectl] if stack.kubectl else [])])
    try:
        server.start()
        yield CDServer(server, repo, source, ns, image)
    finally:
        server.stop()
        _kubectl(stack, "delete", "namespace", ns, "--wait=false")
        for name in (source, "secret-url"):
            _kubectl(stack, "-n", INVENTORY_NS, "delete", "configmap",
                     f"headwater-inventory-{name}", "--ignore-not-found", "--wait=false")


@pytest.mark.stack
def test_lock_unlock_release_and_automate_from_the_cd_page_commit_to_git(
        cd_server: CDServer, browser: BrowserContext, artifacts: Path) -> None:
    s = cd_server
    ui = UI(s.server, browser.pages[0] if browser.pages else browser.new_page(), artifacts)
    with s.server.api() as api:
        wait_for(lambda: any(x["source"] == s.source and x["state"] == "Ready"
                             for x in api.get("/cd/status").json()["sources"]), 90)
        # a source that cannot fetch says so (not "nothing synced yet" and silence)
        wait_for(lambda: any(x["source"] == "secret-url" and x["fetch_error"]
                             for x in api.get("/cd/status").json()["sources"]), 30)
        status = api.get("/cd/status").text
        assert SECRET_PASSWORD not in status and SECRET_TOKEN not in status
        assert "https://deploy:***@127.0.0.1:9/x.git" in status
    ui.login()
    page = ui.page
    page.goto(ui.url("/cd"))
    card = page.locator(f"#source-{s.source}")
    expect(card.locator("h2 .badge")).to_have_text("Ready")
    expect(card).to_contain_text(s.repo.url)
    workload = f"{s.ns}:deployment/web"
    row = card.locator(f"tr[data-workload='{workload}']")
    expect(row).to_contain_text(s.image)
    expect(row).to_contain_text("semver:~1.0")
    expect(row).to_contain_text("manual")  # not automated
    newer = s.image.replace(":1.0.0", ":1.0.1")
    expect(row.get_by_role("button", name=f"Release {newer} to {workload}")).to_be_visible()
    html = page.content()
    assert SECRET_PASSWORD not in html and SECRET_TOKEN not in html
    expect(page.locator("#source-secret-url")).to_contain_text("deploy:***@127.0.0.1:9")
    expect(page.locator("#source-secret-url [role=alert]")).to_contain_text(
        "Git cannot be fetched")
    readable(page)
    ui.shot("cd")
    before = s.subjects()

    # the forms are guarded as every UI form: without the CSRF token, or posted from
    # another site, a lock is refused and nothing is committed
    lock = f"/cd/{s.source}/workloads/{quote(workload, safe='')}/lock"
    with session_client(s.server) as client:
        csrf = form_csrf(client.get("/cd").text)
        assert client.post(lock, data={}, headers={"Origin": s.server.url}).status_code == 403
        assert client.post(lock, data={"csrf": csrf},
                           headers={"Origin": "https://evil.example"}).status_code == 403
        missing = client.post(f"/cd/{s.source}/workloads/default:deployment%2Fnone/lock",
                              data={"csrf": csrf}, headers={"Origin": s.server.url})
        assert missing.status_code == 404 and "none" in missing.text
    assert s.subjects() == before

    row.get_by_role("button", name=f"Lock {workload}").click()
    expect(page.locator(".done")).to_contain_text("Locked: commit")
    expect(row.locator(".policy .badge")).to_have_text("locked")
    expect(row.get_by_role("button", name=f"Release {newer} to {workload}")).to_have_count(0)
    assert s.subjects()[0].startswith("Locked: ")
    assert "fluxcd.io/locked" in s.file()
    # by whom: the session's token name, as the CLI's --user (the source's git-email)
    assert 'fluxcd.io/locked_user: "admin <' in s.file()
    assert plain_git("log", "-1", "--format=%an", "origin/main", cwd=s.repo.work) == "admin"
    ui.shot("cd-locked")

    row.get_by_role("button", name=f"Unlock {workload}").click()
    expect(page.locator(".done")).to_contain_text("Unlocked: commit")
    assert s.subjects()[0].startswith("Unlocked: ")
    assert "fluxcd.io/locked" not in s.file()

    row.get_by_role("button", name=f"Release {newer} to {workload}").click()
    expect(page.locator(".done")).to_contain_text("Released: commit")
    assert s.subjects()[0] == f"Release {newer} to {workload}"
    assert newer in s.file()
    expect(row).to_contain_text(newer)
    expect(row).to_contain_text("up to date")

    row.get_by_role("button", name=f"Automate {workload}").click()
    expect(page.locator(".done")).to_contain_text("Automated: commit")
    expect(row.locator(".policy .badge")).to_have_text("automated")
    assert s.subjects()[0].startswith("Automated: ")
    assert len(s.subjects()) == len(before) + 4  # one commit per button, as the CLI's
    readable(page)
    ui.shot("cd-after")

    fits_a_phone(ui, "/cd", "cd")

    # the release by hand is among the recent releases, with its timeline
    release = page.locator("table.releases tr.release").filter(has_text=newer)
    expect(release).to_have_count(1)
    release.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/cd/releases/{s.source}/[0-9a-f]{{40}}$"))
    hops = page.locator("ol.timeline li.hop")
    expect(hops).to_have_count(6)
    # no build of this server pushed 1.0.1: the CI hops say so, the release hop is there
    expect(page.locator("li[data-hop='build started']")).to_contain_text("not recorded")
    expect(page.locator("li[data-hop='release commit'] time")).to_have_count(1)
    readable(page)
    ui.shot("timeline-by-hand")
    fits_a_phone(ui, urlsplit(page.url).path, "timeline-by-hand")

    # The API's actions are authored by the caller's token name too, unless the body
    # names a user (the CLI's --user).
    def last() -> str:
        s.subjects()  # fetched
        return plain_git("log", "-1", "--format=%an|%s", "origin/main", cwd=s.repo.work)

    with s.server.api() as api:
        url = f"/cd/workloads/{s.source}/{quote(workload, safe='')}"
        assert api.post(f"{url}/deautomate").status_code == 200
        assert last().startswith("admin|Deautomated: ")
        assert api.post(f"{url}/automate", json={"user": "Ann"}).status_code == 200
        assert last().startswith("Ann|Automated: ")
