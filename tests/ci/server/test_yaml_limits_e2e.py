"""Hostile pipeline YAML against a real `headwater server`: an alias bomb set through the
API, or by a build's `set_pipeline` step, is refused at its line within seconds while
the server keeps answering; a big legal pipeline parses off the event loop; malformed
bodies are 400s with a message, never 500s."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from headwater.devstack.ports import pick
from tests.ci.server.conftest import Fly, Server
from tests.yamlbomb import BOMB, BOMB_LINE

BOMB_ERROR = "with its aliases expanded, the YAML is more than 1,000,000 nodes"
CONFIG = "/teams/main/pipelines/p/config"


def _big_pipeline(resources: int) -> str:
    """A legal pipeline of `resources` resources of 20 source keys, all got by one job."""
    lines = ["resources:"]
    for i in range(resources):
        lines += [f"- name: r{i}", "  type: mock", "  check_every: never", "  source:"]
        lines += [f"    k{j}: value-{i}-{j}" for j in range(20)]
    lines += ["jobs:", "- name: j", "  plan:"] + [f"  - get: r{i}" for i in range(resources)]
    return "\n".join(lines) + "\n"


def test_a_bomb_sent_as_a_pipeline_or_task_config_is_a_400_at_its_line(ci_server: Server
                                                                      ) -> None:
    with ci_server.api() as api:
        started = time.monotonic()
        r = api.put(CONFIG, json={"config": BOMB})
        seconds = time.monotonic() - started
        assert r.status_code == 400, r.text
        assert r.json()["errors"] == [{"line": BOMB_LINE, "path": "", "message": (
            f"{BOMB_ERROR} (an alias bomb?): refused (--yaml-max-nodes raises the limit)")}]
        assert f"pipeline p:line {BOMB_LINE}: {BOMB_ERROR}" in r.json()["detail"]
        assert seconds < 5
        assert api.get("/teams/main/pipelines/p").status_code == 404
        assert httpx.get(ci_server.url + "/healthz", timeout=5).status_code == 200
        # `execute`'s task config too: a 400 at the line, and no build.
        r = api.post("/teams/main/builds", files={"config": (None, BOMB)})
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith(f"task config:{BOMB_LINE}: {BOMB_ERROR}")
        assert api.get("/builds").json() == []


def test_the_server_answers_while_a_big_legal_pipeline_parses(ci_server: Server) -> None:
    text = _big_pipeline(5000)  # 2.4 MB, 250,000 nodes: seconds of parsing and validating
    answer: dict[str, Any] = {}

    def put() -> None:
        with ci_server.api() as api:
            api.timeout = httpx.Timeout(300)
            answer["response"] = api.put(CONFIG, json={"config": text})

    thread = threading.Thread(target=put)
    thread.start()
    try:
        time.sleep(0.5)  # the body is sent and being parsed
        health = httpx.get(ci_server.url + "/healthz", timeout=30)
        assert health.status_code == 200
        # The proof: /healthz answered before the PUT did (it would wait for it, parsing on
        # the event loop).
        assert thread.is_alive(), "the PUT ended before /healthz was asked: make it bigger"
    finally:
        thread.join(300)
    assert answer["response"].status_code == 200, answer["response"].text
    assert answer["response"].json()["created"] is True


MALFORMED: list[tuple[str | bytes, str]] = [
    (json.dumps({"config": "- a\n- b\n"}), "a pipeline must be a map"),
    (json.dumps({"config": "resources: 5\njobs: {a: 1}\ngroups: x\n"}), "resources"),
    (json.dumps({"config": 5}), "body.config: Input should be a valid string"),
    (json.dumps({"config": "jobs: []", "vars": [1]}), "body.vars: Input should be a valid"),
    (json.dumps([1, 2]), "invalid request: body"),
    (b'{"config": "jobs: \xff\xfe"}', "There was an error parsing the body"),
    (json.dumps({"config": "jobs: \ud800\n"}), "not Unicode"),
    (json.dumps({"config": "[" * 10_000}), "nesting depth"),
    (json.dumps({"config": "jobs:\n" + "  - " * 300 + "x\n"}), "deeper than 200 levels"),
    ('{"config": "jobs: []", "vars": {"a": ' + "[" * 10_000 + "]" * 10_000 + "}}",
     "There was an error parsing the body"),
    (json.dumps({"config": "jobs:\n- name: j\n  max_in_flight: " + "9" * 5000 + "\n"}),
     "a number of 5,000 characters is too long to read"),
    ('{"config": "jobs: []", "vars": {"n": ' + "9" * 5000 + "}}",
     "There was an error parsing the body"),
    ("", "body: Field required"),
]


def test_malformed_bodies_are_400s_with_a_message(ci_server: Server) -> None:
    with ci_server.api() as api:
        for body, said in MALFORMED:
            r = api.put(CONFIG, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (body[:80], r.text)
            assert said in r.json()["detail"], (body[:80], r.text)
        assert api.get("/teams/main/pipelines/p").status_code == 404


def test_a_body_over_the_size_limit_is_refused_unread(ci_server: Server) -> None:
    with ci_server.api() as api:
        r = api.put(CONFIG, json={"config": "a: " + "x" * (21 << 20)})
    assert r.status_code == 413, r.text


def test_a_set_pipeline_step_loading_a_bomb_errors_at_its_line(ci_server: Server, fly: Fly,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "bomber.yml"
    path.write_text(f"""\
jobs:
- name: spawn
  plan:
  - task: write
    config:
      platform: linux
      outputs: [{{name: ci}}]
      params: {{BOMB: {json.dumps(BOMB)}}}
      run: {{path: sh, args: [-c, 'printf "%s" "$BOMB" > ci/p.yml']}}
  - set_pipeline: child
    file: ci/p.yml
""")
    assert fly("set-pipeline", "-p", "bomber", "-c", str(path), "-n")[0] == 0
    assert fly("unpause-pipeline", "-p", "bomber")[0] == 0
    code, out = fly("trigger-job", "-j", "bomber/spawn", "-w")
    assert code == 2, out  # errored
    assert f"ci/p.yml:line {BOMB_LINE}: {BOMB_ERROR}" in " ".join(out.split()), out
    events = _events(ci_server, _last_build(ci_server, "bomber", "spawn"))
    step = next(e["data"]["origin"]["id"] for e in events if e["event"] == "error")
    began = next(e["data"]["time"] for e in events
                 if e["event"] == "initialize" and e["data"]["origin"]["id"] == step)
    failed = next(e["data"]["time"] for e in events if e["event"] == "error")
    assert failed - began < 5
    code, out = fly("pipelines", "--json")
    assert "child" not in {p["name"] for p in json.loads(out)}


def _last_build(server: Server, pipeline: str, job: str) -> int:
    with server.api() as api:
        builds = api.get(f"/teams/main/pipelines/{pipeline}/jobs/{job}/builds").json()
    return int(builds[0]["id"])


def _events(server: Server, build: int) -> list[dict[str, Any]]:
    with server.api() as api:
        text = api.get(f"/builds/{build}/events").text
    return [json.loads(line.removeprefix("data: ")) for line in text.splitlines()
            if line.startswith("data: {") and '"event"' in line]


def test_the_servers_yaml_flags_set_its_limits(tmp_path: Path) -> None:
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()),
                    args=["--yaml-max-nodes", "50", "--yaml-max-bytes", "1KiB"])
    try:
        server.start()
        with server.api() as api:
            aliased = "x: &x [1, 2, 3, 4, 5]\njobs: [{name: j, plan: [{task: t, config: " \
                      "{platform: linux, run: {path: 'true', args: [*x, *x, *x, *x]}}}]}]\n"
            r = api.put(CONFIG, json={"config": aliased})
            assert r.status_code == 400, r.text
            assert "the YAML is more than 50 nodes" in r.json()["detail"]
            r = api.put(CONFIG, json={"config": "jobs: []\n" + "#" * 1100})
            assert r.status_code == 400, r.text
            assert "the YAML is larger than 1,024 bytes" in r.json()["detail"]
            assert api.put(CONFIG, json={"config": "jobs: [{name: j, plan: []}]\n"}
                           ).status_code == 200
    finally:
        server.stop()
