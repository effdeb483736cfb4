"""GitAuth.env and redaction as pure functions: what each transport gets, and what not."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import pytest

from headwater.gitrepo import GitAuth, redact_url
from headwater.gitrepo.auth import transport
from headwater.gitrepo.errors import redact

TOKEN = "ghp_s3cr3tT0ken"


def test_a_token_becomes_an_authorization_header_scoped_to_the_url() -> None:
    env = GitAuth(token=TOKEN).env("https://forge.example/org/app.git")
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://forge.example/org/app.git.extraHeader"
    scheme, encoded = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: ").split()
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"x-access-token:{TOKEN}"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert "GIT_SSH_COMMAND" not in env
    assert TOKEN not in " ".join(env.values())  # only its encoded form travels


def test_the_header_scope_drops_credentials_written_in_the_url() -> None:
    env = GitAuth(token=TOKEN).env("https://me:pw@forge.example/app.git")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://forge.example/app.git.extraHeader"


@pytest.mark.parametrize("url", [
    "ssh://git@forge.example/app.git", "git://forge.example/app.git",
    "file:///srv/app.git", "/srv/app.git",
])
def test_a_token_is_sent_over_http_only(url: str) -> None:
    assert "GIT_CONFIG_COUNT" not in GitAuth(token=TOKEN).env(url)


def test_an_ssh_key_with_known_hosts_checks_the_host_strictly(tmp_path: Path) -> None:
    auth = GitAuth(ssh_key=tmp_path / "my key", known_hosts=tmp_path / "hosts")
    env = auth.env("git@forge.example:org/app.git", learned_hosts=tmp_path / "learnt")
    argv = shlex.split(env["GIT_SSH_COMMAND"])  # git hands the value to /bin/sh
    assert argv[:3] == ["ssh", "-i", str(tmp_path / "my key")]
    options = argv[4::2]
    assert argv[3::2] == ["-o"] * len(options)
    assert options == ["IdentitiesOnly=yes", "BatchMode=yes",
                       f"UserKnownHostsFile={tmp_path / 'hosts'}", "StrictHostKeyChecking=yes",
                       "LogLevel=ERROR"]


def test_an_ssh_key_without_known_hosts_learns_the_host_into_the_given_file(
    tmp_path: Path
) -> None:
    env = GitAuth(ssh_key=tmp_path / "k").env("ssh://git@forge.example/app.git",
                                              learned_hosts=tmp_path / "wc.known_hosts")
    argv = shlex.split(env["GIT_SSH_COMMAND"])
    assert f"UserKnownHostsFile={tmp_path / 'wc.known_hosts'}" in argv
    assert "StrictHostKeyChecking=accept-new" in argv


@pytest.mark.parametrize("url", ["git://forge.example/app.git", "file:///srv/app.git", "app"])
def test_no_ssh_command_where_ssh_is_not_the_transport(tmp_path: Path, url: str) -> None:
    assert GitAuth(ssh_key=tmp_path / "k").env(url) == {"GIT_TERMINAL_PROMPT": "0"}


@pytest.mark.parametrize(("url", "kind"), [
    ("ssh://h/r", "ssh"), ("git+ssh://h/r", "ssh"), ("git@h:r.git", "ssh"), ("h:r", "ssh"),
    ("https://h/r", "http"), ("HTTP://h/r", "http"), ("git://h/r", "git"),
    ("file:///r", "file"), ("/srv/r.git", "file"), ("./a:b", "file"), ("r.git", "file"),
])
def test_transport_follows_gits_url_rules(url: str, kind: str) -> None:
    assert transport(url) == kind


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pa%40ss@h/r.git", "https://user:***@h/r.git"),
    (f"https://{TOKEN}@h/r.git", "https://***@h/r.git"),
    ("ssh://git@h:22/r.git", "ssh://git@h:22/r.git"),
    ("git://h/r.git", "git://h/r.git"),
    ("/srv/r.git", "/srv/r.git"),
])
def test_redact_url_hides_passwords_and_tokens(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secrets_cover_the_token_its_header_and_the_urls_password() -> None:
    url = "https://user:pa%40ss@h/r.git"
    secrets = GitAuth(token=TOKEN).secrets(url)
    header = GitAuth(token=TOKEN).env(url)["GIT_CONFIG_VALUE_0"]
    text = f"{TOKEN} {header} pa%40ss pa@ss"
    assert redact(text, secrets) == "*** Authorization: Basic *** *** ***"


def test_username_and_password_become_basic_auth_and_are_secrets() -> None:
    auth = GitAuth(username="ci", password="hunter2")
    env = auth.env("https://forge.example/app.git")
    encoded = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: Basic ")
    assert base64.b64decode(encoded).decode() == "ci:hunter2"
    assert "hunter2" not in " ".join(env.values())
    assert {"hunter2", encoded} <= set(auth.secrets("https://forge.example/app.git"))


def test_a_ca_file_and_skip_verify_are_scoped_to_the_url(tmp_path: Path) -> None:
    url = "https://forge.example/app.git"
    env = GitAuth(ca_file=tmp_path / "ca.pem", skip_tls_verify=True).env(url)
    config = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
              for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert config == {f"http.{url}.sslCAInfo": str(tmp_path / "ca.pem"),
                      f"http.{url}.sslVerify": "false"}
    # and the CA beats an inherited GIT_SSL_CAINFO, which git prefers to any config
    assert env["GIT_SSL_CAINFO"] == str(tmp_path / "ca.pem")
    assert GitAuth().env(url) == {"GIT_TERMINAL_PROMPT": "0"}
