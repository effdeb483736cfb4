"""The web UI in a real browser (Debian's chromium) against a real server: log in, the
pipeline graph and its groups, pause, trigger a job and watch its log stream live to
success, abort a running build, a resource's versions with pin and check; a screenshot
of every page, every form control labelled, and every page readable on a phone.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.ci.server.conftest import Fly, Server, write_type
from tests.ci.server.resource_types import FILE_TYPE
from tests.web.ui.conftest import UI

PIPELINE = """
resources:
- name: repo
  type: file
  source: {file: ((versions))}
- name: artifact
  type: file
  source: {file: ((versions))}
jobs:
- name: unit
  plan:
  - get: repo
    trigger: true
  - task: test
    config:
      platform: linux
      run:
        path: sh
        args: [-c, "printf '\\\\033[32mgreen\\\\033[0m tests\\\\n'; sleep 1; echo all passed"]
- name: package
  plan:
  - get: repo
    passed: [unit]
  - task: pack
    config:
      platform: linux
      outputs: [{name: out}]
      run: {path: sh, args: [-c, "echo v9 > out/v"]}
  - put: artifact
    params: {from: out/v}
- name: slow
  plan:
  - task: wait
    config:
      platform: linux
      run: {path: sh, args: [-c, "echo waiting for an abort; exec sleep 300"]}
groups:
- {name: ci, jobs: [unit, package]}
- {name: ops, jobs: [slow]}
"""

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => e.tagName === 'BUTTON'
    ? !(e.textContent.trim() || e.getAttribute('aria-label'))
    : !((e.labels && e.labels.length) || e.getAttribute('aria-label')))
  .map(e => e.outerHTML)"""


def _set(fly: Fly, tmp_path: Path, server: Server) -> None:
    write_type(server, "file", FILE_TYPE)
    versions = tmp_path / "versions"
    versions.write_text("v1\nv2\n")
    path = tmp_path / "pipeline.yml"
    path.write_text(textwrap.dedent(PIPELINE))
    code, out = fly("set-pipeline", "-p", "demo", "-c", str(path), "-v",
                    f"versions={versions}", "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "demo")
    assert code == 0, out


def accessible(page: Page) -> None:
    """Every form control has a label (or a name), and the page has a language and a title."""
    assert page.evaluate(UNLABELLED) == [], page.url
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title()


def test_log_in_see_the_graph_trigger_and_watch_the_log_to_success(
        ui: UI, fly: Fly, tmp_path: Path, ci_server: Server) -> None:
    _set(fly, tmp_path, ci_server)
    page = ui.page
    ui.page.goto(ui.url("/login"))
    accessible(page)
    ui.shot("login")
    ui.login()
    expect(page.get_by_role("link", name="demo")).to_be_visible()
    accessible(page)
    ui.shot("dashboard")

    page.get_by_role("link", name="demo").click()
    graph = page.locator("svg.graph")
    expect(graph).to_be_visible()
    # group "ci": unit and package, repo in, artifact out; repo -> unit triggers (solid),
    # unit -> package does not (dashed: no trigger on the passed get)
    expect(graph.locator("a.job")).to_have_count(2)
    assert graph.locator("path.edge.dashed").count() == 1
    assert graph.locator("path.edge:not(.dashed)").count() == 2
    assert {t.strip() for t in graph.locator("text").all_text_contents()} == {
        "unit", "package", "repo", "artifact"}
    accessible(page)
    ui.shot("pipeline")
    page.get_by_role("link", name="ops").click()
    expect(graph.locator("a.job")).to_have_count(1)
    expect(graph.locator("a.job text")).to_have_text("slow")

    page.get_by_role("button", name="Pause pipeline").click()
    expect(page.locator("h1 .badge")).to_have_text("paused")
    page.get_by_role("button", name="Unpause pipeline").click()
    expect(page.locator("h1 .badge")).to_have_count(0)

    page.goto(ui.url("/teams/main/pipelines/demo/jobs/unit"))
    accessible(page)
    page.get_by_role("button", name="Trigger build").click()
    page.wait_for_url(re.compile(r"/jobs/unit/builds/\d+$"))
    # the build was pending or running when the page opened: the log arrives live
    expect(page.locator("#build-status")).to_have_text("succeeded", timeout=60_000)
    log = page.locator("#log-view")
    expect(log).to_contain_text("all passed")
    expect(log.locator("span.f2")).to_have_text("green")  # ANSI green, as a class
    assert "\x1b" not in log.inner_text()
    expect(page.locator(".steps .dot[data-state=succeeded]")).not_to_have_count(0)
    expect(page.get_by_role("link", name="task: test")).to_be_visible()
    accessible(page)
    ui.shot("build")
    page.get_by_role("button", name="Rerun with same inputs").click()
    page.wait_for_url(re.compile(r"/jobs/unit/builds/\d+\.1$"))  # Concourse's rerun name
    expect(page.locator("#build-status")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#log-view")).to_contain_text("all passed")
    page.goto(ui.url("/teams/main/pipelines/demo/jobs/unit"))
    expect(page.locator("table.builds .badge").first).to_have_text("succeeded")
    ui.shot("job")

    page.goto(ui.url("/teams/main/pipelines/demo/resources/repo"))
    expect(page.locator("table.versions")).to_contain_text("v: v2")
    page.get_by_role("button", name="Check now").click()
    page.get_by_role("button", name="Pin").first.click()
    expect(page.locator("tr.pinned")).to_have_count(1)
    accessible(page)
    ui.shot("resource")
    page.get_by_role("button", name="Unpin").click()
    expect(page.locator("tr.pinned")).to_have_count(0)

    # a phone: every page fits its width (tables and the graph scroll inside)
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in [("dashboard", "/"), ("pipeline", "/teams/main/pipelines/demo"),
                       ("job", "/teams/main/pipelines/demo/jobs/unit"),
                       ("build", "/teams/main/pipelines/demo/jobs/unit/builds/1"),
                       ("resource", "/teams/main/pipelines/demo/resources/repo")]:
        page.goto(ui.url(path))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        ui.shot(f"phone-{name}")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(ui.url("/"))
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))


def test_abort_a_running_build_from_its_page(ui: UI, fly: Fly, tmp_path: Path,
                                             ci_server: Server) -> None:
    _set(fly, tmp_path, ci_server)
    ui.login()
    page = ui.page
    page.goto(ui.url("/teams/main/pipelines/demo/jobs/slow"))
    page.get_by_role("button", name="Trigger build").click()
    page.wait_for_url(re.compile(r"/jobs/slow/builds/\d+$"))
    expect(page.locator("#log-view")).to_contain_text("waiting for an abort", timeout=60_000)
    expect(page.locator("#build-status")).to_have_text("started")
    ui.shot("running")
    page.get_by_role("button", name="Abort").click()
    expect(page.locator("#build-status")).to_have_text("aborted", timeout=60_000)
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)
    ui.shot("aborted")
    with ci_server.api() as api:
        builds = api.get("/builds", params={"pipeline": "demo", "job": "slow"}).json()
    assert [b["status"] for b in builds] == ["aborted"]
