"""The `git` resource's source and params, read as Concourse's git-resource reads them.

git-resource takes a JSON payload and refuses keys outside its schemas
(`assets/source_schema.json`, `in_schema.json`, `out_schema.json`); so do we, with
an error that names the field. Keys of the schema that headwater does not implement
(git-crypt, GPG verification, an https tunnel, ...) are refused when given a value,
rather than silently ignored. `known_hosts` is headwater's own addition.

`git_config` entries become `git -c` settings of commands that run on the server
itself, not in a container as git-resource's do: a key that makes git run a program
(`core.sshCommand`, `core.fsmonitor`, `credential.helper`, `*.driver`, ...) would run
it on the host, so only keys known to be inert are admitted (`allowed_config`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.ci.resources.base import ResourceError

SOURCE_KEYS = frozenset({
    "uri", "branch", "private_key", "private_key_user", "private_key_passphrase",
    "forward_agent", "username", "password", "paths", "sparse_paths", "ignore_paths",
    "skip_ssl_verification", "tag_filter", "tag_regex", "tag_behaviour", "fetch_tags",
    "submodule_credentials", "git_config", "disable_ci_skip", "commit_verification_keys",
    "commit_verification_key_ids", "gpg_keyserver", "git_crypt_key", "https_tunnel",
    "commit_filter", "version_depth", "search_remote_refs", "debug", "known_hosts",
})
# In git-resource's schema, not implemented here: refused when they hold a value.
_UNSUPPORTED_SOURCE = ("private_key_user", "forward_agent", "sparse_paths",
                       "submodule_credentials", "commit_verification_keys",
                       "commit_verification_key_ids", "gpg_keyserver", "git_crypt_key",
                       "https_tunnel", "search_remote_refs")
GET_KEYS = frozenset({
    "depth", "fetch", "fetch_tags", "submodules", "submodule_recursive", "submodule_remote",
    "disable_git_lfs", "clean_tags", "short_ref_format", "timestamp_format",
    "describe_ref_options", "all_branches", "debug",
})
PUT_KEYS = frozenset({
    "repository", "rebase", "rebase_strategy", "rebase_strategy_option", "merge",
    "returning", "tag", "only_tag", "tag_prefix", "force", "annotate", "notes", "branch",
    "refs_prefix", "debug", "push_options",
})
_UNSUPPORTED_PUT = ("rebase_strategy", "rebase_strategy_option", "notes")

# git config keys a pipeline may set: none of them makes git run a program.
_CONFIG_EXACT = frozenset({
    "user.name", "user.email", "core.autocrlf", "core.eol", "core.safecrlf",
    "core.compression", "core.bigfilethreshold", "core.longpaths", "core.ignorecase",
    "core.precomposeunicode", "core.quotepath", "init.defaultbranch", "pull.rebase",
    "pull.ff", "merge.ff", "merge.conflictstyle", "merge.renormalize", "merge.renames",
    "protocol.version", "gc.auto", "submodule.recurse", "submodule.fetchjobs",
    "lfs.url", "lfs.fetchinclude", "lfs.fetchexclude", "lfs.concurrenttransfers",
})
_CONFIG_SECTIONS = ("http.", "pack.", "fetch.", "advice.", "color.", "index.",
                    "diff.renames", "transfer.fsckobjects", "receive.", "push.")
# ... except these, which run programs, reach other hosts' credentials or local files.
_CONFIG_REFUSED = re.compile(
    r"(command|program|helper|driver|hook|proxy|cookiefile|askpass|exec|textconv|"
    r"sshcommand|fsmonitor|pager|editor|include|insteadof|ssl(cert|key)|curloptresolve|"
    r"emptyauth|delegation|\.cmd$|\.tool$)", re.I)

VERSION_DEPTH_MAX = 100


def allowed_config(name: str) -> bool:
    """May a pipeline's `git_config` set `name` (`section[.sub].key`)?"""
    key = name.lower()
    if _CONFIG_REFUSED.search(key):
        return False
    return key in _CONFIG_EXACT or key.startswith(_CONFIG_SECTIONS)


@dataclass(frozen=True)
class CommitFilter:
    include: tuple[str, ...] = ()
    include_all_match: bool = False
    exclude: tuple[str, ...] = ()
    exclude_all_match: bool = False


@dataclass(frozen=True)
class GitSource:
    uri: str
    branch: str = ""
    private_key: str = ""
    private_key_passphrase: str = ""
    known_hosts: str = ""
    username: str = ""
    password: str = ""
    paths: tuple[str, ...] = ()
    ignore_paths: tuple[str, ...] = ()
    skip_ssl_verification: bool = False
    tag_filter: str = ""
    tag_regex: str = ""
    fetch_tags: bool | None = None
    git_config: tuple[tuple[str, str], ...] = ()
    disable_ci_skip: bool = False
    commit_filter: CommitFilter = field(default_factory=CommitFilter)
    version_depth: int = 1

    @property
    def tagged(self) -> bool:
        """Versions are tags (`tag_filter`/`tag_regex`), not commits of the branch."""
        return bool(self.tag_filter or self.tag_regex)

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.private_key, self.private_key_passphrase,
                                 self.password) if s)


@dataclass(frozen=True)
class GetParams:
    depth: int = 0
    fetch: tuple[str, ...] = ()
    fetch_tags: bool | None = None
    submodules: str | tuple[str, ...] = "all"
    submodule_recursive: bool = True
    submodule_remote: bool = False
    disable_git_lfs: bool = False
    clean_tags: bool = False
    short_ref_format: str = "%s"
    timestamp_format: str = "iso8601"
    describe_ref_options: tuple[str, ...] = ("--always", "--dirty", "--broken")
    all_branches: bool = False


@dataclass(frozen=True)
class PutParams:
    repository: str
    rebase: bool = False
    merge: bool = False
    returning: str = "merged"
    tag: str = ""
    only_tag: bool = False
    tag_prefix: str = ""
    force: bool = False
    annotate: str = ""
    branch: str = ""
    refs_prefix: str = "refs/heads"
    push_options: tuple[str, ...] = ()


# -- reading ------------------------------------------------------------------------


def _unknown(payload: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(payload) - known)
    if unknown:
        raise ResourceError(f"git resource: unknown keys in {where}: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")


def _refuse_unsupported(payload: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if payload.get(key) not in (None, "", [], {}, False):
            raise ResourceError(f"git resource: {where}.{key} is not supported by headwater's "
                                "git resource; remove it (docs/resources/git.md lists what "
                                "differs from Concourse's git-resource)")


def _str(payload: Mapping[str, Any], key: str, where: str) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ResourceError(f"git resource: {where}.{key} must be a string, "
                            f"not {type(value).__name__}")
    return str(value).strip() if key in ("uri", "branch") else str(value)


def _bool(payload: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = payload.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ResourceError(f"git resource: {where}.{key} must be true or false, not {value!r}")


def _opt_bool(payload: Mapping[str, Any], key: str, where: str) -> bool | None:
    return None if payload.get(key) is None else _bool(payload, key, where)


def _int(payload: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = payload.get(key)
    if value is None or value == "":
        return default
    try:
        if not isinstance(value, bool):
            return int(value)
    except (TypeError, ValueError):
        pass
    raise ResourceError(f"git resource: {where}.{key} must be a whole number, "
                        f"not {value!r}")


def _strings(payload: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = payload.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ResourceError(f"git resource: {where}.{key} must be a list of strings")
    return tuple(value)


def _git_config(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ResourceError("git resource: source.git_config must be a list of "
                            "{name: ..., value: ...}")
    entries = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) \
                or "value" not in entry:
            raise ResourceError(f"git resource: source.git_config[{i}] must be "
                                "{name: <string>, value: <string>}")
        name = entry["name"]
        if not allowed_config(name):
            raise ResourceError(
                f"git resource: source.git_config[{i}].name {name!r} is not allowed: headwater "
                "runs git on the server itself, and keys that run programs, read "
                "credentials or redirect URLs are refused (allowed: user.name/email, http.*, core "
                "line-ending keys, pack.*, fetch.*, lfs.url; docs/resources/git.md)")
        raw = entry["value"]
        entries.append((name, str(raw).lower() if isinstance(raw, bool) else str(raw)))
    return tuple(entries)


def _commit_filter(value: Any) -> CommitFilter:
    if value is None:
        return CommitFilter()
    if not isinstance(value, Mapping):
        raise ResourceError("git resource: source.commit_filter must be a map with "
                            "include and/or exclude")
    _unknown(value, frozenset({"include", "include_all_match", "exclude",
                               "exclude_all_match"}), "source.commit_filter")
    where = "source.commit_filter"
    for key in ("include", "exclude"):
        if value.get(key) is not None and not isinstance(value[key], list):
            raise ResourceError(f"git resource: invalid commit filter (expected array of "
                                f"strings): {where}.{key}")
    return CommitFilter(
        include=_strings(value, "include", where),
        include_all_match=_bool(value, "include_all_match", where),
        exclude=_strings(value, "exclude", where),
        exclude_all_match=_bool(value, "exclude_all_match", where))


def parse_source(source: Mapping[str, Any]) -> GitSource:
    """git-resource's source, validated; `ResourceError` names the field at fault."""
    _unknown(source, SOURCE_KEYS, "source")
    _refuse_unsupported(source, _UNSUPPORTED_SOURCE, "source")
    where = "source"
    uri = _str(source, "uri", where)
    if not uri:
        raise ResourceError("git resource: source.uri is required and must not be empty")
    if uri.startswith("-") or any(c in uri for c in "\n\r\0"):
        raise ResourceError("git resource: source.uri must not start with '-' or hold "
                            "line breaks")
    if uri.lower().startswith("ext::"):
        raise ResourceError("git resource: source.uri: the ext:: transport runs a program "
                            "and is refused")
    tag_filter, tag_regex = _str(source, "tag_filter", where), _str(source, "tag_regex", where)
    if tag_filter and tag_regex:
        raise ResourceError("git resource: cannot provide both source.tag_filter and "
                            "source.tag_regex")
    if tag_filter.startswith("-"):
        raise ResourceError("git resource: source.tag_filter must not start with '-'")
    if tag_regex:
        try:
            re.compile(tag_regex)
        except re.error as e:
            raise ResourceError(f"git resource: source.tag_regex is not a valid regular "
                                f"expression: {e}") from None
    behaviour = _str(source, "tag_behaviour", where) or "match_tagged"
    if behaviour not in ("match_tagged", "match_tag_ancestors"):
        raise ResourceError("git resource: invalid source.tag_behaviour: must be one of "
                            "'match_tagged' or 'match_tag_ancestors'")
    if behaviour != "match_tagged":
        raise ResourceError("git resource: source.tag_behaviour 'match_tag_ancestors' is "
                            "not supported by headwater's git resource")
    depth = _int(source, "version_depth", where, 1)
    if not 1 <= depth <= VERSION_DEPTH_MAX:
        raise ResourceError(f"git resource: source.version_depth must be between 1 and "
                            f"{VERSION_DEPTH_MAX}, not {depth}")
    branch = _str(source, "branch", where)
    if branch.startswith("-"):
        raise ResourceError("git resource: source.branch must not start with '-'")
    return GitSource(
        uri=uri, branch=branch,
        private_key=_str(source, "private_key", where),
        private_key_passphrase=_str(source, "private_key_passphrase", where),
        known_hosts=_str(source, "known_hosts", where),
        username=_str(source, "username", where),
        password=_str(source, "password", where),
        paths=_strings(source, "paths", where),
        ignore_paths=_strings(source, "ignore_paths", where),
        skip_ssl_verification=_bool(source, "skip_ssl_verification", where),
        tag_filter=tag_filter, tag_regex=tag_regex,
        fetch_tags=_opt_bool(source, "fetch_tags", where),
        git_config=_git_config(source.get("git_config")),
        disable_ci_skip=_bool(source, "disable_ci_skip", where),
        commit_filter=_commit_filter(source.get("commit_filter")),
        version_depth=depth)


_DESCRIBE_OPTION = re.compile(
    r"--(always|dirty(=\S*)?|broken(=\S*)?|tags|all|long|first-parent|exact-match|"
    r"abbrev=\d+|candidates=\d+|match=\S+|exclude=\S+)")


def parse_get_params(params: Mapping[str, Any]) -> GetParams:
    _unknown(params, GET_KEYS, "get params")
    where = "params"
    submodules: str | tuple[str, ...] = "all"
    raw = params.get("submodules")
    if isinstance(raw, str) and raw in ("all", "none"):
        submodules = raw
    elif raw is not None:
        submodules = _strings(params, "submodules", where)
    depth = _int(params, "depth", where, 0)
    if depth < 0:
        raise ResourceError("git resource: params.depth must be 0 (everything) or more")
    describe = tuple(str(params.get("describe_ref_options") or
                         "--always --dirty --broken").split())
    for option in describe:
        if not _DESCRIBE_OPTION.fullmatch(option):
            raise ResourceError(f"git resource: params.describe_ref_options: {option!r} is "
                                "not an option of git describe headwater passes on")
    timestamp = _str(params, "timestamp_format", where) or "iso8601"
    if not re.fullmatch(r"[a-z0-9-]+(:[^\s]*)?", timestamp):
        raise ResourceError(f"git resource: params.timestamp_format {timestamp!r} is not a "
                            "git --date format (iso8601, rfc, unix, format:...)")
    fetch = _strings(params, "fetch", where)
    for name in fetch:
        if name.startswith("-"):
            raise ResourceError(f"git resource: params.fetch: {name!r} is not a branch name")
    return GetParams(
        depth=depth, fetch=fetch, fetch_tags=_opt_bool(params, "fetch_tags", where),
        submodules=submodules,
        submodule_recursive=_bool(params, "submodule_recursive", where, True),
        submodule_remote=_bool(params, "submodule_remote", where),
        disable_git_lfs=_bool(params, "disable_git_lfs", where),
        clean_tags=_bool(params, "clean_tags", where),
        short_ref_format=_str(params, "short_ref_format", where) or "%s",
        timestamp_format=timestamp, describe_ref_options=describe,
        all_branches=_bool(params, "all_branches", where))


def parse_put_params(params: Mapping[str, Any], source: GitSource) -> PutParams:
    """git-resource's put params, with its checks and messages."""
    _unknown(params, PUT_KEYS, "put params")
    _refuse_unsupported(params, _UNSUPPORTED_PUT, "params")
    where = "params"
    put = PutParams(
        repository=_str(params, "repository", where),
        rebase=_bool(params, "rebase", where), merge=_bool(params, "merge", where),
        returning=_str(params, "returning", where) or "merged",
        tag=_str(params, "tag", where), only_tag=_bool(params, "only_tag", where),
        tag_prefix=_str(params, "tag_prefix", where), force=_bool(params, "force", where),
        annotate=_str(params, "annotate", where), branch=_str(params, "branch", where),
        refs_prefix=_str(params, "refs_prefix", where) or "refs/heads",
        push_options=_strings(params, "push_options", where))
    if not source.branch and not put.only_tag and not put.branch:
        raise ResourceError("git resource: invalid payload (missing branch): set "
                            "source.branch or params.branch")
    if not put.repository:
        raise ResourceError("git resource: invalid payload (missing params.repository)")
    if put.merge and put.rebase:
        raise ResourceError("git resource: invalid push strategy (either merge or rebase "
                            "can be set, but not both)")
    if put.returning not in ("merged", "unmerged"):
        raise ResourceError("git resource: params.returning must be merged or unmerged")
    if not re.fullmatch(r"refs(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+", put.refs_prefix):
        raise ResourceError(f"git resource: params.refs_prefix {put.refs_prefix!r} is not "
                            "a ref prefix like refs/heads")
    for option in put.push_options:
        if "\n" in option:
            raise ResourceError("git resource: params.push_options must be single lines")
    if put.branch.startswith("-"):
        raise ResourceError("git resource: params.branch must not start with '-'")
    return put
