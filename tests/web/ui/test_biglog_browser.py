"""A 100 MB build log in the browser: the first screen shows without reading the log
whole, the End button reaches its last line, any middle part scrolls into view, and
the tab stays under 200 MB (the browser's own counters: CDP Performance.getMetrics
JSHeapUsedSize, and the resident memory of the largest page renderer process).

The log is made the real way, by a task printing 100 MiB (1,638,400 lines of 64
bytes, each with ANSI colour codes) on a server whose cap is 200 MB. The time to the
first screen is measured and written to the artifacts (`figures.txt`), not asserted.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ci.server.conftest import Fly, Server
from tests.web.ui.conftest import UI

LINES = 1_638_400  # x 64 bytes = 100 MiB
MIB = 2**20
# "line %08d " (14) + ESC[33m (5) + 40 x + ESC[0m (4) + "\n" = 64 bytes
AWK = ("BEGIN { for (i = 1; i <= " + str(LINES) + "; i++) "
       'printf "line %08d \\033[33m' + "x" * 40 + '\\033[0m\\n", i }')


@pytest.fixture
def server_args() -> tuple[str, ...]:
    return ("--max-build-log-size", "200MB")


def _renderers(profile: Path) -> list[tuple[int, int]]:
    """(resident, private resident) bytes of each page renderer of the browser using
    `profile` (not the browser's own UI, `--top-chrome-webui`)."""
    procs: dict[int, tuple[int, str]] = {}  # pid -> (parent, cmdline)
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (d / "stat").read_text()
        except OSError:
            continue
        procs[int(d.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmd)
    family = {pid for pid, (_, cmd) in procs.items()
              if str(profile) in cmd and "--type=" not in cmd}
    assert family, "the browser process was not found"
    while more := {pid for pid, (parent, _) in procs.items() if parent in family} - family:
        family |= more
    found = []
    for pid in family:
        cmd = procs[pid][1]
        if "--type=renderer" not in cmd or "--top-chrome-webui" in cmd:
            continue
        status = Path(f"/proc/{pid}/status").read_text()
        kb = dict(re.findall(r"(VmRSS|RssAnon):\s+(\d+) kB", status))
        found.append((int(kb.get("VmRSS", 0)) * 1024, int(kb.get("RssAnon", 0)) * 1024))
    return found


def test_a_100_mb_log_opens_at_once_scrolls_to_its_end_and_the_tab_stays_small(
        ui: UI, fly: Fly, tmp_path: Path, ci_server: Server) -> None:
    path = tmp_path / "big.yml"
    path.write_text(textwrap.dedent(f"""
        jobs:
        - name: big
          plan:
          - task: print
            config:
              platform: linux
              run: {{path: awk, args: [{json.dumps(AWK)}]}}
        """))
    code, out = fly("set-pipeline", "-p", "big", "-c", str(path), "-n")
    assert code == 0, out
    fly("unpause-pipeline", "-p", "big")
    code, out = fly("trigger-job", "-j", "big/big", "-w")
    assert code == 0, out[-300:]
    ui.login()
    page = ui.page

    start = time.monotonic()
    page.goto(ui.url("/teams/main/pipelines/big/jobs/big/builds/1"))
    first_row = page.locator(".log-row[data-n='0'] .t")
    expect(first_row).to_have_text("line 00000001 " + "x" * 40)
    first_screen = time.monotonic() - start
    expect(first_row.locator("span.f3")).to_have_text("x" * 40)  # ANSI yellow
    ui.shot("big-log-first-screen")

    page.get_by_role("button", name="End").click()
    expect(page.locator("#log-info")).to_have_text(f"{LINES} lines", timeout=120_000)
    expect(page.locator(".log-row .t", has_text=f"line {LINES:08d}")).to_be_visible(
        timeout=60_000)
    at_end = time.monotonic() - start
    ui.shot("big-log-end")

    page.locator("#log-view").evaluate("el => { el.scrollTop = el.scrollHeight / 2; }")
    middle = page.locator(".log-row .t", has_text=re.compile(r"line 008\d{5} "))
    expect(middle.first).to_be_visible(timeout=60_000)
    ui.shot("big-log-middle")

    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    heap = metrics["JSHeapUsedSize"]
    # The tab's renderer is one of these (the others are spare or blank pages): the
    # largest is held to the bound.
    renderers = _renderers(tmp_path / "chromium-profile")
    rss, private = max(renderers)
    figures = (f"first screen: {first_screen:.2f} s\nend reached: {at_end:.2f} s\n"
               f"JS heap used: {heap / MIB:.1f} MiB\n"
               f"largest renderer: {rss / MIB:.1f} MiB resident, {private / MIB:.1f} MiB "
               f"private\nrenderers: {len(renderers)}\nDOM nodes: {metrics['Nodes']:.0f}\n")
    (ui.artifacts / "figures.txt").write_text(figures)
    print(figures)
    assert heap < 200 * MIB
    assert 0 < rss < 200 * MIB
