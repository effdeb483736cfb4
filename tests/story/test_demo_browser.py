"""The seed story's release seen in the web UI (issue 14 points 3 and 5): after one run
of `headwater demo` on the stack, Debian's chromium logs in to the demo's server with
its token file, finds the release on the CD page and opens its timeline: six hops,
commit -> build started -> image pushed -> release commit -> synced -> pods ready, each
with a time, the build hop linking to the build that pushed the image.

The demo keeps its server running between runs; one left by an earlier run may be
older code, and its process did not see this release's sync and rollout. So this test
stops it first (by the pid file the demo wrote), and the demo starts it again from
this checkout before its commit. Screenshots: the CD page, the timeline, the build.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, expect

from headwater.devstack import StackInfo, process
from tests.ci.server.conftest import Server
from tests.story.test_demo_e2e import _play
from tests.web.ui.conftest import UI
from tests.web.ui.test_cd_browser import readable

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None,
                                 reason="the image build needs buildah")]

HOPS = ["commit", "build started", "image pushed", "release commit", "synced",
        "pods ready"]


def demo_server(demo: Path) -> Server:
    """The demo's server (started by `headwater demo`, not by the test) as `UI` uses it:
    its URL and the token of its 0600 token file."""
    url = urlsplit(json.loads((demo / "server.json").read_text())["url"])
    assert url.hostname == "127.0.0.1" and url.port, url
    return Server(data_dir=demo / "server", port=url.port,
                  token=(demo / "token").read_text().strip())


def test_the_demos_release_is_on_the_cd_page_with_every_hop_of_its_timeline(
        stack: StackInfo, browser: BrowserContext, artifacts: Path) -> None:
    old = process.load("headwater-server", stack.layout)
    if old is not None:
        process.stop(old, stack.layout)
    done = _play(stack, "helloworld")
    target = re.search(r"Hello World, release (\d+\.\d+\.\d+)", done.stdout)
    assert target, done.stdout
    version = target[1]

    ui = UI(demo_server(Path(stack.state_dir) / "demo"),
            browser.pages[0] if browser.pages else browser.new_page(), artifacts)
    ui.login()
    page = ui.page
    page.get_by_role("link", name="CD", exact=True).click()
    card = page.locator("#source-helloworld")
    expect(card.locator("h2 .badge")).to_have_text("Ready")
    expect(card).to_contain_text(f"demo-concourse-flux:{version}")
    release = page.locator("table.releases tr.release").filter(
        has_text=f"demo-concourse-flux:{version}")
    expect(release).to_have_count(1)
    expect(release).to_contain_text("image automation")
    readable(page)
    ui.shot("cd")

    release.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/cd/releases/helloworld/[0-9a-f]{40}$"))
    hops = page.locator("ol.timeline li.hop")
    expect(hops).to_have_count(len(HOPS))
    assert [h.get_attribute("data-hop") for h in hops.all()] == HOPS
    for name in HOPS:  # every hop recorded, with a time and no failure
        hop = page.locator(f"li.hop[data-hop='{name}']")
        expect(hop.locator("time")).to_have_count(1)
        expect(hop).not_to_contain_text("not recorded")
        expect(hop.locator(".badge.st-failed")).to_have_count(0)
    for name in HOPS[1:]:
        expect(page.locator(f"li.hop[data-hop='{name}'] .since")).to_have_count(1)
    readable(page)
    ui.shot("timeline")

    page.locator("li.hop[data-hop='build started'] a").click()
    page.wait_for_url(re.compile(r"/jobs/Docker%20Build/builds/\d+$"))
    expect(page.locator("#build-status")).to_have_text("succeeded")
    ui.shot("build")
