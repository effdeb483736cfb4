"""Credentials from Docker config files and Kubernetes pull secrets."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from headwater import log as hwlog
from headwater.registry.auth import (
    Credentials,
    Keychain,
    from_pull_secret,
    load_docker_config,
    parse_docker_config,
)
from headwater.registry.errors import InvalidCredentials


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auth_field_is_base64_user_and_password_split_at_the_first_colon() -> None:
    chain = parse_docker_config(json.dumps({"auths": {
        "ghcr.io": {"auth": _auth("bot", "pa:ss:word")}}}), source="config.json")
    assert chain["ghcr.io"] == Credentials("bot", "pa:ss:word", "config.json")


def test_username_and_password_fields_are_read_without_auth() -> None:
    chain = parse_docker_config(json.dumps({"auths": {
        "quay.io": {"username": "u", "password": "p"}}}), source="c")
    assert (chain["quay.io"].username, chain["quay.io"].password) == ("u", "p")


@pytest.mark.parametrize("key", [
    "https://index.docker.io/v1/", "index.docker.io", "docker.io",
    "registry-1.docker.io", "https://registry-1.docker.io/v2/",
])
def test_docker_hub_keys_in_any_spelling_are_found_as_docker_io(key: str) -> None:
    chain = parse_docker_config(json.dumps({"auths": {key: {"auth": _auth("me", "pw")}}}),
                                source="c")
    assert list(chain) == ["docker.io"]
    assert chain["docker.io"].username == "me"
    assert chain["https://index.docker.io/v1/"].username == "me"  # lookups normalise too


def test_url_keys_with_scheme_port_and_path_reduce_to_host_and_port() -> None:
    chain = parse_docker_config(json.dumps({"auths": {
        "http://127.0.0.1:5000/v2/": {"auth": _auth("a", "b")}}}), source="c")
    assert chain.get("127.0.0.1:5000") == Credentials("a", "b", "c")
    assert chain.get("127.0.0.1:5001") is None


def test_entries_with_only_a_helper_or_token_are_skipped() -> None:
    chain = parse_docker_config(json.dumps({
        "auths": {"gcr.io": {}, "ecr.example.com": {"identitytoken": "x"}},
        "credsStore": "desktop",
    }), source="c")
    assert len(chain) == 0


def test_legacy_dockercfg_without_auths_wrapper_is_read() -> None:
    chain = parse_docker_config(json.dumps({
        "https://index.docker.io/v1/": {"auth": _auth("old", "style"), "email": "x@y"}}),
        source="c")
    assert chain["docker.io"].password == "style"


def test_merged_lets_the_later_keychain_win() -> None:
    defaults = Keychain({"docker.io": Credentials("a", "1"), "ghcr.io": Credentials("b", "2")})
    workload = Keychain({"https://index.docker.io/v1/": Credentials("c", "3")})
    merged = defaults.merged(workload)
    assert merged["docker.io"].username == "c"
    assert merged["ghcr.io"].username == "b"


def test_passwords_never_show_in_repr() -> None:
    creds = Credentials("bot", "s3cr3t-value")
    assert "s3cr3t" not in repr(creds)
    assert "s3cr3t" not in repr(Keychain({"ghcr.io": creds}))


@pytest.mark.parametrize(("text", "complaint"), [
    ("{not json", "not JSON"),
    ("[]", "JSON object"),
    ('{"auths": []}', "must map registry hosts"),
    ('{"auths": {"ghcr.io": "x"}}', "must be an object"),
    ('{"auths": {"ghcr.io": {"auth": "%%%"}}}', "not base64"),
    (json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"nocolon").decode()}}}),
     "no user:password"),
    ('{"auths": {"https://": {"auth": "eDp5"}}}', "names no host"),
])
def test_bad_config_errors_name_the_source_and_never_the_secret(
    text: str, complaint: str
) -> None:
    with pytest.raises(InvalidCredentials, match=complaint) as caught:
        parse_docker_config(text, source="/etc/docker/config.json")
    assert str(caught.value).startswith("/etc/docker/config.json: ")
    assert "nocolon" not in str(caught.value)


def test_load_docker_config_reads_the_file_and_names_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": _auth("u", "p")}}}))
    assert load_docker_config(path)["ghcr.io"].source == str(path)
    with pytest.raises(InvalidCredentials, match=r"missing\.json.*--docker-config"):
        load_docker_config(tmp_path / "missing.json")


def test_dockerconfigjson_pull_secret_data_is_a_config_json() -> None:
    data = {".dockerconfigjson": json.dumps({"auths": {
        "registry.example.com": {"username": "deploy", "password": "tok",
                                 "auth": _auth("deploy", "tok")}}}).encode()}
    chain = from_pull_secret("kubernetes.io/dockerconfigjson", data, source="ns/regcred")
    assert chain["registry.example.com"] == Credentials("deploy", "tok", "ns/regcred")


def test_dockercfg_pull_secret_data_is_the_bare_auths_map() -> None:
    data = {".dockercfg": json.dumps({"https://index.docker.io/v1/": {
        "auth": _auth("hub", "pw"), "email": "a@b"}})}
    chain = from_pull_secret("kubernetes.io/dockercfg", data)
    assert chain["docker.io"].username == "hub"


def test_pull_secret_of_another_type_or_without_its_key_is_refused() -> None:
    with pytest.raises(InvalidCredentials, match="is not a pull secret"):
        from_pull_secret("Opaque", {"password": "x"}, source="ns/s")
    with pytest.raises(InvalidCredentials, match=r"must have the key \.dockerconfigjson"):
        from_pull_secret("kubernetes.io/dockerconfigjson", {".dockercfg": "{}"}, source="ns/s")


def test_a_password_never_reaches_a_log_line() -> None:
    stream = io.StringIO()
    hwlog.setup(stream=stream)
    try:
        Credentials("bot", "correct-horse-battery")
        hwlog.get("registry").info("login", detail="user bot password correct-horse-battery")
    finally:
        hwlog.setup()
    assert "correct-horse-battery" not in stream.getvalue()
    assert "((redacted))" in stream.getvalue()
