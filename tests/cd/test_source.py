"""Sync sources: fluxd's flag names and defaults, read from a YAML file, and every
mistake named with its file, source and key."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headwater.cd.source import Source, SourceError, from_mapping, load_file

URL = "ssh://git@git.local/app.git"
WHERE = "sources.yaml: sources[0]"


# --- durations (headwater.durations, Go's time.ParseDuration as fluxd's flags) -------------

@pytest.mark.parametrize(("value", "seconds"), [
    ("5m", 300.0),
    ("1h30m", 5400.0),
    ("1.5h", 5400.0),
    ("500ms", 0.5),
    ("1.5m", 90.0),
    ("2h45m", 9900.0),
    ("1h0m0s", 3600.0),
    ("0s", 0.0),
    ("0", 0.0),
    (30, 30.0),
    (2.5, 2.5),
])
def test_durations_are_go_durations_as_fluxd_takes_them_or_seconds(value: str | float,
                                                                   seconds: float) -> None:
    source = from_mapping({"git-url": URL, "git-poll-interval": value}, where=WHERE)
    assert source.git_poll_interval == seconds


@pytest.mark.parametrize("text", ["", "5", "30", "soon", "5 minutes", "5d", "1m30", "m", "h5"])
def test_what_is_not_a_duration_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(SourceError, match=re.escape(f"{WHERE}: sync-interval: invalid duration "
                                                    f"{json.dumps(text)}")) as e:
        from_mapping({"git-url": URL, "sync-interval": text}, where=WHERE)
    assert "units" in str(e.value)


@pytest.mark.parametrize("key", ["git_poll_interval", "wait_timeout"])
def test_a_negative_duration_is_refused_naming_the_key(key: str) -> None:
    with pytest.raises(SourceError, match=f"{key.replace('_', '-')} is negative"):
        changes: dict[str, Any] = {key: -1.0}
        replace(Source(git_url=URL), **changes)


# --- Source ---------------------------------------------------------------------------------

def test_a_source_has_fluxds_defaults() -> None:
    s = Source(git_url=URL)
    assert (s.name, s.git_branch, s.git_path, s.paths) == ("default", "master", (), (".",))
    assert (s.git_poll_interval, s.sync_interval, s.git_timeout) == (300.0, 300.0, 20.0)
    assert (s.sync_garbage_collection, s.sync_garbage_collection_dry) == (False, False)
    assert (s.git_sync_tag, s.git_readonly) == ("headwater-sync", False)


@pytest.mark.parametrize("name", ["app", "a", "my-app-2", "0", "a" * 40])
def test_a_source_name_can_be_lowercase_letters_digits_and_dashes(name: str) -> None:
    assert Source(git_url=URL, name=name).name == name


@pytest.mark.parametrize("name", ["", "App", "my_app", "my.app", "-app", "app-", "a b",
                                  "a" * 41])
def test_a_bad_source_name_says_what_a_name_may_hold_and_why(name: str) -> None:
    with pytest.raises(SourceError) as e:
        Source(git_url=URL, name=name)
    assert str(e.value) == (
        f"source name {name!r}: use lowercase letters, digits and dashes (at most 40), "
        "as it names a ConfigMap and a label value")


def test_a_source_needs_a_git_url() -> None:
    with pytest.raises(SourceError, match=r"^source 'app': git-url is required$"):
        Source(git_url="", name="app")


def test_a_source_with_paths_syncs_those_paths() -> None:
    assert Source(git_url=URL, git_path=("deploy", "base")).paths == ("deploy", "base")


# --- from_mapping ---------------------------------------------------------------------------

def test_from_mapping_reads_the_flag_names() -> None:
    s = from_mapping({
        "name": "app",
        "git-url": URL,
        "git-branch": "main",
        "git-path": ["deploy", "base"],
        "git-poll-interval": "1m",
        "git-timeout": "30s",
        "sync-interval": "10m",
        "sync-garbage-collection": True,
        "sync-garbage-collection-dry": True,
        "git-sync-tag": "flux-sync",
        "git-readonly": True,
        "git-user": "bot",
        "git-email": "bot@example.com",
        "k8s-allow-namespace": ["shop", "web"],
        "wait": True,
        "wait-timeout": 120,
    }, where=WHERE)
    assert s == Source(
        name="app", git_url=URL, git_branch="main", git_path=("deploy", "base"),
        git_poll_interval=60.0, git_timeout=30.0, sync_interval=600.0,
        sync_garbage_collection=True, sync_garbage_collection_dry=True,
        git_sync_tag="flux-sync", git_readonly=True, git_user="bot",
        git_email="bot@example.com", k8s_allow_namespace=("shop", "web"), wait=True,
        wait_timeout=120.0)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("git-path", "deploy", ("deploy",)),
    ("git-path", ["deploy"], ("deploy",)),
    ("git-path", ["a", "b"], ("a", "b")),
    ("git-path", [], ()),
    ("k8s-allow-namespace", "shop", ("shop",)),
])
def test_a_list_key_takes_one_string_or_a_list(key: str, value: Any,
                                               expected: tuple[str, ...]) -> None:
    s = from_mapping({"git-url": URL, key: value}, where=WHERE)
    assert getattr(s, key.replace("-", "_")) == expected


def test_key_files_are_paths_with_the_home_directory_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = from_mapping({"git-url": URL, "git-ssh-key": "~/.ssh/id_ed25519",
                      "git-known-hosts": "/etc/ssh/known_hosts"}, where=WHERE)
    assert s.git_ssh_key == tmp_path / ".ssh" / "id_ed25519"
    assert s.git_known_hosts == Path("/etc/ssh/known_hosts")


def test_an_unknown_key_is_named_with_the_known_ones() -> None:
    with pytest.raises(SourceError) as e:
        from_mapping({"git-url": URL, "git-brnach": "main"}, where=WHERE)
    message = str(e.value)
    assert message.startswith(f"{WHERE}: unknown key 'git-brnach'; known keys: ")
    known = message.split("known keys: ", 1)[1].split(", ")
    assert known == sorted(known)
    assert {"git-branch", "git-url", "git-path", "sync-interval", "wait-timeout"} <= set(known)


def test_a_python_field_name_is_not_a_key() -> None:
    with pytest.raises(SourceError, match="unknown key 'git_url'"):
        from_mapping({"git_url": URL}, where=WHERE)


@pytest.mark.parametrize("key", ["git-poll-interval", "git-timeout", "sync-interval",
                                 "wait-timeout"])
def test_a_bad_duration_is_named_with_its_key(key: str) -> None:
    with pytest.raises(SourceError) as e:
        from_mapping({"git-url": URL, key: "5 minutes"}, where=WHERE)
    assert str(e.value) == (f'{WHERE}: {key}: invalid duration "5 minutes": expected a '
                            "number with a unit such as 30s, 1m30s, 500ms or 2h "
                            "(units ns, us, ms, s, m, h)")


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
@pytest.mark.parametrize("key", ["sync-garbage-collection", "git-readonly", "wait"])
def test_a_boolean_key_takes_only_true_or_false(key: str, value: Any) -> None:
    with pytest.raises(SourceError) as e:
        from_mapping({"git-url": URL, key: value}, where=WHERE)
    assert str(e.value) == f"{WHERE}: {key}: expected true or false, not {value!r}"


def test_a_source_without_git_url_says_git_url_is_required() -> None:
    with pytest.raises(SourceError, match="git-url is required"):
        from_mapping({"name": "app"}, where=WHERE)


def test_a_source_without_git_url_is_still_an_error_naming_where() -> None:
    with pytest.raises(SourceError, match=f"^{re.escape(WHERE)}: .*git.url"):
        from_mapping({"name": "app"}, where=WHERE)


def test_a_number_where_a_string_is_expected_is_an_error() -> None:
    with pytest.raises(SourceError, match="git-branch"):
        from_mapping({"git-url": URL, "git-branch": 1.10}, where=WHERE)


# --- load_file ------------------------------------------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_load_file_reads_every_source(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""\
sources:
  - name: app
    git-url: {URL}
    git-branch: main
    git-path: [deploy]
    sync-garbage-collection: true
  - name: infra
    git-url: ssh://git@git.local/infra.git
    git-path: clusters/prod
    sync-interval: 1m
""")
    assert load_file(path) == [
        Source(name="app", git_url=URL, git_branch="main", git_path=("deploy",),
               sync_garbage_collection=True),
        Source(name="infra", git_url="ssh://git@git.local/infra.git",
               git_path=("clusters/prod",), sync_interval=60.0),
    ]


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""\
sources:
  - name: app
    git-url: {URL}
    git-branch: main: dev
  - name: infra
""")
    with pytest.raises(SourceError) as e:
        load_file(path)
    assert str(e.value).startswith(f"{path}:4: not valid YAML: ")
    assert "mapping values are not allowed" in str(e.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SourceError, match=f"^{re.escape(str(path))}: No such file"):
        load_file(path)


@pytest.mark.parametrize("text", [
    "",
    "- name: app\n",
    "source:\n  - name: app\n",
    "sources:\n",
    "sources:\n  name: app\n",
])
def test_a_file_without_a_sources_list_says_what_is_expected(tmp_path: Path,
                                                             text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SourceError) as e:
        load_file(path)
    assert str(e.value) == f"{path}: expected a mapping with a `sources:` list"


def test_an_error_in_a_source_names_the_file_and_its_index(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""\
sources:
  - name: app
    git-url: {URL}
  - name: infra
    git-url: {URL}
    sync-interval: often
""")
    with pytest.raises(SourceError) as e:
        load_file(path)
    assert str(e.value) == (f'{path}: sources[1]: sync-interval: invalid duration "often": '
                            "expected a number with a unit such as 30s, 1m30s, 500ms or 2h "
                            "(units ns, us, ms, s, m, h)")


def test_source_names_must_be_unique(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""\
sources:
  - {{name: app, git-url: {URL}}}
  - {{name: infra, git-url: {URL}}}
  - {{name: app, git-url: {URL}, git-branch: dev}}
  - {{git-url: {URL}}}
  - {{git-url: {URL}}}
""")
    with pytest.raises(SourceError) as e:
        load_file(path)
    assert str(e.value) == f"{path}: source names must be unique: app, default"
