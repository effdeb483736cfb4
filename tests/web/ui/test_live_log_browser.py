"""A log followed live is the log the server pages: the page appends live output with
the server's line rule (ui.js `append`, loglines.Splitter), so what it shows at the end
of a build equals the server's lines for the same range, for output cut mid-line, two
parallel steps writing at once, and a line longer than the line limit."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from playwright.sync_api import expect

from tests.ci.server.conftest import Fly, Server
from tests.web.ui.conftest import UI

ROWS = """() => [...document.querySelectorAll('.log-row')].map(
  r => [Number(r.dataset.n), r.querySelector('.t').textContent])"""


def _task(name: str, script: str) -> str:
    return json.dumps({"task": name, "config": {
        "platform": "linux", "run": {"path": "sh", "args": ["-c", script]}}})


def test_the_live_log_equals_the_servers_lines(ui: UI, fly: Fly, tmp_path: Path,
                                              ci_server: Server) -> None:
    a = ("sleep 2; for i in $(seq 1 300); do printf 'a%s ' $i; printf 'half'; "
         "sleep 0.002; echo ' done'; done; printf '%9000s' '' | tr ' ' L; echo")
    b = "sleep 2; for i in $(seq 1 300); do echo b$i; sleep 0.003; done; printf 'no newline'"
    path = tmp_path / "live.yml"
    path.write_text(textwrap.dedent(f"""
        jobs:
        - name: j
          plan:
          - in_parallel:
            - {_task("a", a)}
            - {_task("b", b)}
        """))
    code, out = fly("set-pipeline", "-p", "live", "-c", str(path), "-n")
    assert code == 0, out
    fly("unpause-pipeline", "-p", "live")
    ui.login()
    page = ui.page
    page.goto(ui.url("/teams/main/pipelines/live/jobs/j"))
    page.get_by_role("button", name="Trigger build").click()
    page.wait_for_url(re.compile(r"/builds/1$"))
    expect(page.locator("#build-status")).to_have_text("succeeded", timeout=60_000)
    ui.shot("live-end")
    log = page.locator("#log-view")
    total = page.request.get(ui.url("/ui/builds/1/lines?count=1")).json()["total"]
    expect(page.locator("#log-info")).to_have_text(f"{total} lines")
    seen: dict[int, str] = {}
    # Every line as the page holds it (appended live, never fetched again), screen by
    # screen from the top, against the server's lines for the same range.
    for top in range(0, total, 30):
        log.evaluate("(el, y) => { el.scrollTop = y; }", top * 18)
        expect(page.locator(f".log-row[data-n='{top}']")).to_be_attached()
        shown: list[list[object]] = page.evaluate(ROWS)
        first = int(str(shown[0][0]))
        served = page.request.get(
            ui.url(f"/ui/builds/1/lines?start={first}&count={len(shown)}")).json()
        assert [[n, text] for n, _, text, _ in served["lines"]] == shown, top
        seen.update((int(str(n)), str(t)) for n, t in shown)
    assert sorted(seen) == list(range(total))
    texts = list(seen.values())
    assert texts.count("L" * 4096) == 2 and "L" * (9000 - 2 * 4096) in texts
    assert "a300 half done" in texts or any(t.startswith("a300 half") for t in texts)
    assert texts[-1] in ("no newline", "L" * (9000 - 2 * 4096)) or "no newline" in texts
