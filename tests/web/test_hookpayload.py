"""Webhook requests as pure data: which forge, whether the signature holds over the raw
body, what the push says; real sample payloads of each forge's docs (testdata/hooks)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from headwater.web import hookpayload as hp
from headwater.web.hooksecrets import SecretsError, parse_secrets

DATA = Path(__file__).parent / "testdata" / "hooks"
SECRET = "a-webhook-secret-of-32-characters"
OTHER = "another-secret-for-another-hook"
SECRETS = {"forge": SECRET, "other": OTHER}


def _body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("headers", "forge"), [
    ({"x-github-event": "push"}, hp.GITHUB),
    ({"x-gitlab-event": "Push Hook"}, hp.GITLAB),
    # Gitea also sends GitHub's and Gogs' headers: its own wins
    ({"x-github-event": "push", "x-gogs-event": "push", "x-gitea-event": "push"}, hp.GITEA),
    ({"x-forgejo-event": "push", "x-github-event": "push"}, hp.GITEA),
    ({"content-type": "application/json"}, hp.GENERIC),
])
def test_the_forge_is_told_by_its_event_header(headers: dict[str, str], forge: str) -> None:
    assert hp.forge(headers) == forge


@pytest.mark.parametrize(("name", "kind", "headers", "urls", "expected"), [
    ("github_push.json", hp.GITHUB, {"x-github-event": "push"},
     ("https://github.com/Codertocat/Hello-World.git",
      "git@github.com:Codertocat/Hello-World.git",
      "git://github.com/Codertocat/Hello-World.git", "https://github.com/Codertocat/Hello-World"),
     ("refs/heads/main", "main", "0000000000000000000000000000000000000001")),
    ("gitlab_push.json", hp.GITLAB, {"x-gitlab-event": "Push Hook"},
     ("http://example.com/mike/diaspora", "git@example.com:mike/diaspora.git",
      "http://example.com/mike/diaspora.git"),
     ("refs/heads/master", "master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")),
    ("gitea_push.json", hp.GITEA, {"x-gitea-event": "push", "x-github-event": "push"},
     ("http://localhost:3000/gitea/webhooks.git",
      "ssh://gitea@localhost:2222/gitea/webhooks.git", "http://localhost:3000/gitea/webhooks"),
     ("refs/heads/develop", "develop", "bffeb74224043ba2feb48d137756c8a9331c449a")),
])
def test_each_forges_push_payload_gives_its_urls_ref_and_revision(
        name: str, kind: str, headers: dict[str, str], urls: tuple[str, ...],
        expected: tuple[str, str, str]) -> None:
    push = hp.parse_push(kind, headers, _body(name))
    assert push is not None
    assert set(urls) <= set(push.urls)
    assert (push.ref, push.branch, push.after) == expected
    assert push.tag is None


@pytest.mark.parametrize(("doc", "ref", "urls"), [
    ({"url": "git://h/a.git", "branch": "main", "after": "abc"}, "refs/heads/main",
     ("git://h/a.git",)),
    ({"url": "git://h/a.git", "urls": ["ssh://u@h:22/a.git"], "ref": "refs/tags/v1"},
     "refs/tags/v1", ("git://h/a.git", "ssh://u@h:22/a.git")),
])
def test_the_generic_payload_takes_url_urls_and_branch_or_ref(
        doc: dict[str, object], ref: str, urls: tuple[str, ...]) -> None:
    push = hp.parse_push(hp.GENERIC, {}, json.dumps(doc).encode())
    assert push is not None
    assert (push.ref, push.urls) == (ref, urls)


@pytest.mark.parametrize(("kind", "headers", "body"), [
    (hp.GITHUB, {"x-github-event": "ping"}, b'{"zen": "Design for failure."}'),
    (hp.GITHUB, {"x-github-event": "issues"}, b"{}"),
    (hp.GITLAB, {"x-gitlab-event": "Merge Request Hook"}, b"{}"),
    (hp.GITEA, {"x-gitea-event": "create"}, b"{}"),
])
def test_events_that_are_not_pushes_are_ignored(kind: str, headers: dict[str, str],
                                                body: bytes) -> None:
    assert hp.parse_push(kind, headers, body) is None


@pytest.mark.parametrize(("kind", "headers", "body", "said"), [
    (hp.GENERIC, {}, b"not json", "not JSON"),
    (hp.GENERIC, {}, b"[1]", "not a JSON object"),
    (hp.GENERIC, {}, b'{"branch": "main"}', "give `url`"),
    (hp.GENERIC, {}, b'{"url": "git://h/a"}', "give `ref`"),
    (hp.GITHUB, {"x-github-event": "push"}, b'{"ref": "refs/heads/x"}', "no repository URL"),
])
def test_a_malformed_push_says_what_is_missing(kind: str, headers: dict[str, str], body: bytes,
                                               said: str) -> None:
    with pytest.raises(hp.PayloadError, match=said):
        hp.parse_push(kind, headers, body)


def test_a_gitlab_tag_push_gives_the_tag() -> None:
    doc = json.loads(_body("gitlab_push.json"))
    doc.update(object_kind="tag_push", event_name="tag_push", ref="refs/tags/v1.0.0")
    push = hp.parse_push(hp.GITLAB, {"x-gitlab-event": "Tag Push Hook"},
                         json.dumps(doc).encode())
    assert push is not None
    assert (push.tag, push.branch) == ("v1.0.0", None)


def test_a_deleted_branch_is_a_push_that_triggers_nothing() -> None:
    body = json.dumps({"url": "git://h/a", "ref": "refs/heads/x", "after": "0" * 40}).encode()
    push = hp.parse_push(hp.GENERIC, {}, body)
    assert push is not None and push.deleted


GITHUB_BODY = _body("github_push.json")


@pytest.mark.parametrize(("kind", "headers", "matched"), [
    (hp.GITHUB, {"x-hub-signature-256": "sha256=" + _hmac(SECRET, GITHUB_BODY)}, "forge"),
    (hp.GITHUB, {"x-hub-signature-256": "sha256=" + _hmac(OTHER, GITHUB_BODY)}, "other"),
    (hp.GITHUB, {"x-hub-signature-256": "sha256=" + _hmac(SECRET, GITHUB_BODY).upper()},
     "forge"),
    (hp.GITEA, {"x-gitea-signature": _hmac(SECRET, GITHUB_BODY)}, "forge"),
    (hp.GITEA, {"x-gogs-signature": _hmac(OTHER, GITHUB_BODY)}, "other"),
    (hp.GITEA, {"x-gitea-signature": "0" * 64,
                "x-hub-signature-256": "sha256=" + _hmac(SECRET, GITHUB_BODY)}, "forge"),
    (hp.GENERIC, {"x-hub-signature-256": "sha256=" + _hmac(SECRET, GITHUB_BODY)}, "forge"),
    (hp.GITLAB, {"x-gitlab-token": SECRET}, "forge"),
    # attacks: wrong secret, the body changed after signing, no prefix, no signature,
    # GitHub's old SHA-1 header, a GitLab token sent to the GitHub path, the signature
    # sent as a GitLab token
    (hp.GITHUB, {"x-hub-signature-256": "sha256=" + _hmac("guessed-secret-guessed", GITHUB_BODY)},
     None),
    (hp.GITHUB, {"x-hub-signature-256": "sha256=" + _hmac(SECRET, GITHUB_BODY + b" ")}, None),
    (hp.GITHUB, {"x-hub-signature-256": _hmac(SECRET, GITHUB_BODY)}, None),
    (hp.GITHUB, {}, None),
    (hp.GITHUB, {"x-hub-signature": "sha1=" + hmac.new(SECRET.encode(), GITHUB_BODY,
                                                        hashlib.sha1).hexdigest()}, None),
    (hp.GITHUB, {"x-gitlab-token": SECRET}, None),
    (hp.GITLAB, {"x-gitlab-token": _hmac(SECRET, GITHUB_BODY)}, None),
    (hp.GITLAB, {"x-gitlab-token": SECRET[:-1]}, None),
])
def test_signatures_are_checked_over_the_raw_body(kind: str, headers: dict[str, str],
                                                  matched: str | None) -> None:
    assert hp.verify(kind, headers, GITHUB_BODY, SECRETS) == matched


@pytest.mark.parametrize(("headers", "matched"), [
    ({"authorization": f"Bearer {SECRET}"}, "forge"),
    ({"authorization": f"bearer {OTHER}"}, "other"),
    ({"x-headwater-token": SECRET}, "forge"),
    ({"authorization": f"Basic {SECRET}"}, None),
    ({"authorization": "Bearer wrong"}, None),
    ({}, None),
])
def test_the_registry_proves_a_secret_with_a_bearer_header(headers: dict[str, str],
                                                           matched: str | None) -> None:
    assert hp.bearer_matches(headers, SECRETS) == matched


def test_a_registry_notification_gives_the_manifest_pushes_only() -> None:
    [push] = hp.parse_registry(_body("registry_push.json"))
    assert (push.image, push.tag) == ("192.168.100.227:5000/hello-world", "1.0.1")
    assert push.digest and push.digest.startswith("sha256:fea8")
    with pytest.raises(hp.PayloadError, match="no `events` list"):
        hp.parse_registry(b"{}")


@pytest.mark.parametrize(("text", "expected"), [
    ("# hooks\ngithub = " + SECRET + "\n\nstack=" + OTHER + "\n",
     {"github": SECRET, "stack": OTHER}),
    ("", {}),
])
def test_the_secrets_file_is_name_equals_secret_lines(text: str,
                                                      expected: dict[str, str]) -> None:
    assert parse_secrets(text, where="hooks.secrets") == expected


@pytest.mark.parametrize(("text", "said"), [
    ("github " + SECRET, "hooks.secrets:1: expected name=secret"),
    ("\ngithub=tiny-val", "hooks.secrets:2: the secret of 'github' is shorter than 16"),
    (f"a={SECRET}\na={OTHER}", "hooks.secrets:2: 'a' is defined twice"),
])
def test_a_bad_secrets_file_names_the_line_and_never_the_secret(text: str, said: str) -> None:
    with pytest.raises(SecretsError) as caught:
        parse_secrets(text, where="hooks.secrets")
    assert said in str(caught.value)
    assert SECRET not in str(caught.value) and OTHER not in str(caught.value)
    assert "tiny-val" not in str(caught.value)
