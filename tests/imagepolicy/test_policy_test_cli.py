"""`headwater policy-test` offline, from a --tags file (the verb as the lead will mount it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import policy
from headwater.cli.app import app
from headwater.devstack import StackInfo
from headwater.registry import push

runner = CliRunner()


APP = app
SEED_TAGS = [
    {"tag": "1.0.0", "created": "2024-01-01T00:00:00Z"},
    {"tag": "1.0.1", "created": "2024-01-02T00:00:00Z"},
    {"tag": "1.1.0", "created": "2024-01-03T00:00:00.5+02:00"},
    {"tag": "latest", "created": None},
]


def _tags(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "tags.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_seed_policy_human_output(tmp_path: Path) -> None:
    r = runner.invoke(APP, ["policy-test", "semver:~1.0", "--tags", str(_tags(tmp_path, SEED_TAGS)),
                            "--current", "1.0.0"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:4] == ["policy:  semver:~1.0", "kind:    semver", "valid:   yes",
                         "ranked (newest first):"]
    assert lines[4].split() == ["1.0.1", "2024-01-02T00:00:00Z"]
    assert lines[5].split() == ["1.0.0", "2024-01-01T00:00:00Z"]
    assert "latest:  1.0.1" in lines
    assert lines[-1] == "current: 1.0.0: would update to 1.0.1"


def test_json_output_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    tags = str(_tags(tmp_path, SEED_TAGS))
    r = runner.invoke(APP, ["policy-test", "glob:*", "--tags", tags, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"policy": "glob:*", "kind": "glob", "valid": True,
                                    "latest": "1.1.0", "ranked": ["1.1.0", "1.0.1", "1.0.0"]}
    r = runner.invoke(APP, ["policy-test", "semver:~1.0", "--tags", tags, "--json",
                            "--current", "1.0.1"])
    assert json.loads(r.stdout) == {"policy": "semver:~1.0", "kind": "semver", "valid": True,
                                    "latest": "1.0.1", "ranked": ["1.0.1", "1.0.0"],
                                    "would_update": False}


def test_invalid_policy_is_reported_and_still_decided_as_fluxd_does(tmp_path: Path) -> None:
    tags = str(_tags(tmp_path, SEED_TAGS))
    r = runner.invoke(APP, ["policy-test", "regex:(", "--tags", tags, "--json"])
    assert json.loads(r.stdout)["valid"] is False
    assert json.loads(r.stdout)["ranked"] == ["1.1.0", "1.0.1", "1.0.0"]
    r = runner.invoke(APP, ["policy-test", "semver:~1.0,,", "--tags", tags])
    assert r.exit_code == 0
    assert "valid:   no" in r.stdout
    assert "every semver tag" in r.stdout


def test_no_match_and_a_blocked_release(tmp_path: Path) -> None:
    tags = str(_tags(tmp_path, [{"tag": "a"}, {"tag": "b", "created": None}]))
    r = runner.invoke(APP, ["policy-test", "semver:*", "--tags", tags, "--json"])
    assert json.loads(r.stdout) == {"policy": "semver:*", "kind": "semver", "valid": True,
                                    "latest": None, "ranked": []}
    r = runner.invoke(APP, ["policy-test", "*", "--tags", tags, "--current", "b"])
    assert "ranked (newest first):" in r.stdout
    assert r.stdout.splitlines()[-1] == (
        "current: b: would not update (image with zero created timestamp)")


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("[{\"tag\": \"1.0\",}]", "line 1 column 16: not JSON"),
    ({"tags": []}, "expected a JSON list"),
    (["1.0.0"], "item 1: expected an object"),
    ([{"tag": "1.0"}, {"created": None}], "item 2: 'tag' must be a string, it is missing"),
    ([{"tag": 1}], "item 1: 'tag' must be a string, it is a number"),
    ([{"tag": "1.0", "crated": None}], "item 1: unknown key 'crated'"),
    ([{"tag": "1.0", "created": 5}], "item 1 (1.0): 'created' must be an RFC 3339 string"),
    ([{"tag": "1.0", "created": "2024-01-02"}], "item 1 (1.0): 'created': '2024-01-02' is "
                                                "not an RFC 3339 time"),
    ([{"tag": "1.0", "created": "2024-13-02T00:00:00Z"}], "item 1 (1.0): 'created': month"),
])
def test_bad_tags_files_name_the_file_and_the_fault(tmp_path: Path, content: object,
                                                    message: str) -> None:
    path = tmp_path / "tags.json" if content is None else _tags(tmp_path, content)
    r = runner.invoke(APP, ["policy-test", "*", "--tags", str(path)])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith(f"error: {path}: ")
    assert message in r.stderr


def test_live_registry_tags_and_created_times_are_read(stack: StackInfo,
                                                      registry_repo: str) -> None:
    image = f"{stack.registry.host}/{registry_repo}"
    for tag, created in (("1.0.0", "2024-01-01T00:00:00Z"), ("1.0.1", "2024-02-01T00:00:00Z"),
                         ("1.1.0", "2024-03-01T00:00:00Z")):
        blob, diff_id = push.layer_from_bytes({"tag": tag.encode()})
        config = push.image_config([diff_id], entrypoint=["/tag"], created=created)
        push.push(stack.registry.url, registry_repo, tag, config=config, layers=[blob])
    r = runner.invoke(APP, ["policy-test", "semver:~1.0", "--image", f"{image}:1.0.0",
                            "--current", "1.0.0", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["latest"], out["ranked"], out["would_update"]) == ("1.0.1", ["1.0.1", "1.0.0"],
                                                                  True)
    r = runner.invoke(APP, ["policy-test", "glob:*", "--image", image, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ranked"] == ["1.1.0", "1.0.1", "1.0.0"]  # by created time


def test_an_unreachable_registry_is_an_error_naming_the_image() -> None:
    r = runner.invoke(APP, ["policy-test", "*", "--image", "127.0.0.1:9/none/app:1"])
    assert r.exit_code == 2
    assert "error: reading tags of 127.0.0.1:9/none/app:1:" in r.stderr


@pytest.mark.parametrize("args", [[], ["--image", "x", "--tags", "y"]])
def test_exactly_one_source_of_tags(args: list[str]) -> None:
    r = runner.invoke(APP, ["policy-test", "*", *args])
    assert r.exit_code == 2
    assert "exactly one of --image REF or --tags FILE" in r.stderr


def test_unsupported_regexp_is_an_error_not_a_guess(tmp_path: Path) -> None:
    tags = str(_tags(tmp_path, SEED_TAGS))
    r = runner.invoke(APP, ["policy-test", r"regexp:\p{Greek}", "--tags", tags])
    assert r.exit_code == 2
    assert "Unicode script" in r.stderr


@pytest.mark.parametrize(("text", "iso"), [
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
    ("2024-01-02T03:04:05.123456789-05:30", "2024-01-02T03:04:05.123456-05:30"),
])
def test_rfc3339_times(text: str, iso: str) -> None:
    assert policy.parse_rfc3339(text).isoformat() == iso


@pytest.mark.parametrize("text", ["2024-01-02t03:04:05Z", "2024-01-02T03:04:05",
                                  "2024-01-02T03:04:60Z", "2024-01-02T03:04:05+24:00"])
def test_rfc3339_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        policy.parse_rfc3339(text)
