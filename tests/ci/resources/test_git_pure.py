"""The git resource's pure parts: source and params validation, commit filters,
`[ci skip]`, pathspecs, tag regexes, short refs, commit URLs, push rejections."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.gitfilter import (
    MessageFilter,
    bre_to_python,
    commit_url,
    hint,
    pathspec,
    push_rejected,
    select_versions,
    short_ref,
    tag_matches,
)
from headwater.ci.resources.gitsource import (
    CommitFilter,
    GitSource,
    allowed_config,
    parse_get_params,
    parse_put_params,
    parse_source,
)

URI = "ssh://git@example.com/app.git"


@pytest.mark.parametrize(("source", "message"), [
    ({}, "source.uri is required"),
    ({"uri": " "}, "source.uri is required"),
    ({"uri": URI, "bogus": 1}, "unknown keys in source: bogus"),
    ({"uri": URI, "tag_filter": "v*", "tag_regex": "v.*"}, "cannot provide both"),
    ({"uri": URI, "tag_regex": "v(("}, "source.tag_regex is not a valid"),
    ({"uri": URI, "tag_behaviour": "sometimes"}, "invalid source.tag_behaviour"),
    ({"uri": URI, "version_depth": 0}, "source.version_depth must be between 1"),
    ({"uri": URI, "version_depth": "x"}, "source.version_depth must be a whole number"),
    ({"uri": URI, "paths": "a"}, None),
    ({"uri": URI, "paths": [1]}, "source.paths must be a list of strings"),
    ({"uri": URI, "disable_ci_skip": "yes"}, "source.disable_ci_skip must be true or false"),
    ({"uri": URI, "commit_filter": {"exclude": "x"}}, "invalid commit filter"),
    ({"uri": URI, "commit_filter": {"drop": ["x"]}}, "unknown keys in source.commit_filter"),
    ({"uri": URI, "git_crypt_key": "k"}, "source.git_crypt_key is not supported"),
    ({"uri": URI, "git_crypt_key": ""}, None),
    ({"uri": URI, "git_config": [{"name": "core.sshCommand", "value": "touch /x"}]},
     "source.git_config[0].name 'core.sshCommand' is not allowed"),
    ({"uri": URI, "git_config": [{"value": "x"}]}, "source.git_config[0] must be"),
    ({"uri": "--upload-pack=touch /tmp/x"}, "must not start with '-'"),
    ({"uri": "ext::sh -c touch% /tmp/x"}, "ext:: transport"),
    ({"uri": URI, "branch": "-f"}, "source.branch must not start with '-'"),
    ({"uri": URI, "tag_filter": "--points-at=x"}, "tag_filter must not start with '-'"),
    ({"uri": URI, "uri2": 1, "private_key": "x"}, "unknown keys in source: uri2"),
])
def test_source_validation_names_the_field(source: dict[str, Any],
                                           message: str | None) -> None:
    if message is None:
        parse_source(source)
        return
    with pytest.raises(ResourceError, match="git resource") as info:
        parse_source(source)
    assert message in str(info.value)


def test_source_defaults_and_values() -> None:
    src = parse_source({
        "uri": f" {URI}", "branch": "main", "paths": ["a/"], "ignore_paths": ["a/doc"],
        "disable_ci_skip": "true", "version_depth": 3, "fetch_tags": False,
        "commit_filter": {"include": ["feat"], "exclude_all_match": True},
        "git_config": [{"name": "user.name", "value": "ci"},
                       {"name": "http.sslVerify", "value": False}]})
    assert src == GitSource(
        uri=URI, branch="main", paths=("a/",), ignore_paths=("a/doc",), disable_ci_skip=True,
        version_depth=3, fetch_tags=False,
        commit_filter=CommitFilter(include=("feat",), exclude_all_match=True),
        git_config=(("user.name", "ci"), ("http.sslVerify", "false")))
    assert not src.tagged
    assert parse_source({"uri": URI, "tag_filter": "v*"}).tagged


@pytest.mark.parametrize(("name", "allowed"), [
    ("user.name", True), ("user.email", True), ("http.sslVerify", True),
    ("http.https://example.com.extraHeader", True), ("core.autocrlf", True),
    ("pack.threads", True), ("lfs.url", True),
    ("core.sshCommand", False), ("core.fsmonitor", False), ("core.hooksPath", False),
    ("credential.helper", False), ("merge.ours.driver", False), ("diff.x.textconv", False),
    ("filter.lfs.smudge", False), ("http.proxy", False), ("url.file:///.insteadOf", False),
    ("include.path", False), ("core.pager", False), ("core.editor", False),
    ("uploadpack.packObjectsHook", False), ("gpg.program", False),
    ("lfs.customtransfer.x.path", False), ("http.sslKey", False), ("core.askPass", False),
    ("sequence.editor", False), ("remote.origin.uploadpack", False),
])
def test_git_config_admits_only_keys_that_run_nothing(name: str, allowed: bool) -> None:
    assert allowed_config(name) is allowed


def test_get_params() -> None:
    params = parse_get_params({"depth": 1, "submodules": ["lib"], "short_ref_format": "v%s",
                               "describe_ref_options": "--tags --always"})
    assert params.depth == 1
    assert params.submodules == ("lib",)
    assert params.describe_ref_options == ("--tags", "--always")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"depth": -1}, "params.depth"), ({"clone": 1}, "unknown keys"),
        ({"describe_ref_options": "--output=/x"}, "describe_ref_options"),
        ({"timestamp_format": "x y"}, "timestamp_format"),
        ({"fetch": ["--upload-pack=x"]}, "params.fetch")]
    for bad, words in cases:
        with pytest.raises(ResourceError, match=words):
            parse_get_params(bad)


@pytest.mark.parametrize(("params", "branch", "message"), [
    ({"repository": "r"}, "main", None),
    ({"repository": "r", "only_tag": True}, "", None),
    ({"repository": "r", "branch": "b"}, "", None),
    ({"repository": "r"}, "", "missing branch"),
    ({}, "main", "missing params.repository"),
    ({"repository": "r", "merge": True, "rebase": True}, "main", "either merge or rebase"),
    ({"repository": "r", "returning": "both"}, "main", "params.returning"),
    ({"repository": "r", "notes": "n"}, "main", "params.notes is not supported"),
    ({"repository": "r", "refs_prefix": "refs/../x"}, "main", "params.refs_prefix"),
    ({"repository": "r", "force": "maybe"}, "main", "params.force must be true or false"),
    ({"repository": "r", "nope": 1}, "main", "unknown keys in put params: nope"),
])
def test_put_params(params: dict[str, Any], branch: str, message: str | None) -> None:
    src = GitSource(uri=URI, branch=branch)
    if message is None:
        parse_put_params(params, src)
        return
    with pytest.raises(ResourceError, match="git resource") as info:
        parse_put_params(params, src)
    assert message in str(info.value)


@pytest.mark.parametrize(("message", "kept"), [
    ("plain change", True),
    ("release\n\n[ci skip]", False),
    ("[skip ci] docs", False),
    ("[ci\tskip]", False),  # \s: any blank, as git's --grep
    ("[CI SKIP]", True),  # case-sensitive, as git's --grep
    ("[ci-skip]", True),
    ("ci skip", True),
])
def test_ci_skip(message: str, kept: bool) -> None:
    assert MessageFilter(CommitFilter(), disable_ci_skip=False).keeps(message) is kept
    assert MessageFilter(CommitFilter(), disable_ci_skip=True).keeps(message)


@pytest.mark.parametrize(("commit_filter", "message", "kept"), [
    (CommitFilter(exclude=("WIP",)), "WIP: half done", False),
    (CommitFilter(exclude=("WIP",)), "done", True),
    (CommitFilter(include=("feat",)), "feat: x", True),
    (CommitFilter(include=("feat",)), "fix: x", False),
    (CommitFilter(include=("feat", "fix")), "fix: x", True),
    (CommitFilter(include=("feat", "fix"), include_all_match=True), "fix: x", False),
    (CommitFilter(include=("feat", "fix"), include_all_match=True), "feat fix", True),
    (CommitFilter(exclude=("a", "b"), exclude_all_match=True), "a only", True),
    (CommitFilter(exclude=("a", "b"), exclude_all_match=True), "a and b", False),
    (CommitFilter(include=("^release",)), "chore\nrelease 1", True),  # any line
    (CommitFilter(include=("v1+",)), "v1+", True),  # + is literal in a BRE
    (CommitFilter(include=("v1+",)), "v11", False),
    (CommitFilter(include=(r"v1\+",)), "v11", True),  # \+ repeats
    (CommitFilter(include=(r"\(a\|b\)c",)), "bc", True),
    (CommitFilter(include=("(a)",)), "(a)", True),
    (CommitFilter(include=("deploy",)), "deploy [ci skip]", False),  # ci skip still wins
])
def test_commit_filter(commit_filter: CommitFilter, message: str, kept: bool) -> None:
    assert MessageFilter(commit_filter, disable_ci_skip=False).keeps(message) is kept


@pytest.mark.parametrize(("bre", "python"), [
    ("abc", "abc"), ("a+b?", r"a\+b\?"), (r"a\+", "a+"), (r"\(x\)\{2\}", "(x){2}"),
    ("*x", r"\*x"), ("[(]", "[(]"), (r"[\]", r"[\\]"), (r"\<w\>", r"\bw\b"),
    ("a|b", r"a\|b"), (r"a\|b", "a|b"),
])
def test_bre_to_python(bre: str, python: str) -> None:
    assert bre_to_python(bre) == python


def test_invalid_commit_filter_pattern_names_the_field() -> None:
    with pytest.raises(ResourceError, match=r"source\.commit_filter\.exclude"):
        MessageFilter(CommitFilter(exclude=(r"\(",)), disable_ci_skip=False)


@pytest.mark.parametrize(("paths", "ignore", "spec"), [
    ((), (), []),
    ((".",), (), []),
    (("src/",), (), ["--", "src/"]),
    (("src/", "lib/*.py"), ("src/doc",), ["--", "src/", "lib/*.py", ":!src/doc"]),
    ((), ("README.md",), ["--", ".", ":!README.md"]),
])
def test_pathspec(paths: tuple[str, ...], ignore: tuple[str, ...], spec: list[str]) -> None:
    assert pathspec(paths, ignore) == spec


@pytest.mark.parametrize(("newest_first", "since", "depth", "versions"), [
    (["c", "b", "a"], True, 1, ["a", "b", "c"]),
    (["c", "b", "a"], False, 1, ["c"]),
    (["c", "b", "a"], False, 2, ["b", "c"]),
    ([], False, 1, []),
    ([], True, 1, []),
])
def test_select_versions(newest_first: list[str], since: bool, depth: int,
                         versions: list[str]) -> None:
    assert select_versions(newest_first, since_version=since, depth=depth) == versions


@pytest.mark.parametrize(("tag", "regex", "match"), [
    ("v1.2.3", r"v[0-9]+\.[0-9]+\.[0-9]+", True),
    ("v1.2.3-rc1", r"v[0-9]+\.[0-9]+\.[0-9]+", False),  # -x: the whole name
    ("release-v1", "v1", False),
    ("v1", "v1|v2", True),
])
def test_tag_regex_is_a_full_match(tag: str, regex: str, match: bool) -> None:
    assert tag_matches(tag, regex) is match


@pytest.mark.parametrize(("fmt", "short"), [
    ("%s", "0123456"), ("v-%s", "v-0123456"), ("%s-%s", "0123456-"), ("100%%", "100%")])
def test_short_ref(fmt: str, short: str) -> None:
    assert short_ref("0123456789abcdef", fmt) == short


@pytest.mark.parametrize(("origin", "url"), [
    ("https://github.com/concourse/git-resource.git",
     "https://github.com/concourse/git-resource/commit/abc"),
    ("git@github.com:concourse/git-resource.git",
     "https://github.com/concourse/git-resource/commit/abc"),
    ("ssh://git@gitlab.com/a/b.git", "https://gitlab.com/a/b/-/commit/abc"),
    ("https://bitbucket.org/a/b", "https://bitbucket.org/a/b/commits/abc"),
    ("https://user@github.com/a/b", "https://github.com/a/b/commit/abc"),
    ("ssh://git@127.0.0.1:2222/app.git", ""),
    ("/srv/git/app", ""),
])
def test_commit_url(origin: str, url: str) -> None:
    assert commit_url(origin, "abc") == url


@pytest.mark.parametrize(("error", "creds", "advice"), [
    ("fatal: could not read Username for 'https://h': terminal prompts disabled",
     (True, False, False), "the server refused source.username/source.password"),
    ("fatal: Authentication failed for 'https://h/'", (False, False, False),
     "set source.username and source.password"),
    ("git@h: Permission denied (publickey).", (False, True, False),
     "the server refused source.private_key"),
    ("git@h: Permission denied (publickey).", (False, False, False),
     "set source.private_key"),
    ("Host key verification failed.", (False, True, True), "not one of source.known_hosts"),
    ("Host key verification failed.", (False, True, False), "changed since it was first seen"),
    ("SSL certificate problem: self-signed certificate", (False, False, False),
     "skip_ssl_verification"),
    ("fatal: the certificate of your mother", (False, False, False), ""),
    ("server certificate verification failed. CAfile: none", (False, False, False),
     "skip_ssl_verification"),
    ("fatal: repository not found", (True, True, True), ""),
])
def test_hint_says_what_to_do_in_the_sources_terms(
        error: str, creds: tuple[bool, bool, bool], advice: str) -> None:
    has_password, has_key, has_known_hosts = creds
    said = hint(error, has_password=has_password, has_key=has_key,
                has_known_hosts=has_known_hosts)
    assert advice in said
    assert bool(said) is bool(advice)


@pytest.mark.parametrize(("output", "rejected"), [
    (" ! [rejected]        HEAD -> main (fetch first)", True),
    (" ! [rejected]        HEAD -> main (non-fast-forward)", True),
    (" ! [remote rejected] HEAD -> main (cannot lock ref 'refs/heads/main')", True),
    (" ! [remote rejected] HEAD -> main (pre-receive hook declined)", False),
    ("remote: error: cannot lock ref 'refs/heads/main': is at 1 but expected 2\n"
     " ! [remote rejected] HEAD -> main (failed to update ref)", True),
    ("fatal: Could not read from remote repository.", False),
])
def test_push_rejected(output: str, rejected: bool) -> None:
    assert push_rejected(output) is rejected
