"""`headwater policy-test`: which tag a Flux tag policy picks, and whether fluxd would release it.

The decision is `headwater.imagepolicy` (fluxd 1.25.4's rules); this module only reads
the tags (from the live registry, or offline from a JSON file) and
prints the answer for people or, with `--json`, for scripts. The registry client is
imported only for `--image`: offline, the verb loads the pure decision and nothing else
(and `--help` not even that).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headwater.errors import UserError

if TYPE_CHECKING:
    from headwater.imagepolicy import Decision, TagInfo

EXIT_ERRORED = 2  # fly's "errored": the command could not do its work

# time.RFC3339 as Go's time.Parse reads it: `T` and `Z` upper case, optional fraction.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_TAG_KEYS = frozenset({"tag", "created"})


class TagsFileError(UserError, ValueError):
    """A `--tags` file that cannot be read; the message names the file and the fault."""


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time as Go's `time.Parse(time.RFC3339, ...)` accepts it.

    Python keeps microseconds: a fraction finer than that is truncated (Go keeps
    nanoseconds, so two images created within the same microsecond tie here only).
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2024-01-02T00:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz: timezone = UTC
    else:
        sign = -1 if m.group(9) == "-" else 1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def read_tags_file(path: Path) -> list[TagInfo]:
    """Read `[{"tag": "1.0.1", "created": "2024-01-02T00:00:00Z" | null}, ...]`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TagsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TagsFileError(f"{path}: cannot read it: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TagsFileError(f"{path}: line {e.lineno} column {e.colno}: not JSON: {e.msg}") \
            from None
    if not isinstance(data, list):
        raise TagsFileError(f'{path}: expected a JSON list of {{"tag": ..., "created": ...}} '
                            f"objects, found a {_json_type(data)}")
    return [_tag_item(path, i, item) for i, item in enumerate(data, start=1)]


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _tag_item(path: Path, n: int, item: Any) -> TagInfo:
    from headwater.imagepolicy import TagInfo

    where = f"{path}: item {n}"
    if not isinstance(item, dict):
        raise TagsFileError(f'{where}: expected an object {{"tag": ..., "created": ...}}, '
                            f"found a {_json_type(item)}")
    unknown = sorted(set(item) - _TAG_KEYS)
    if unknown:
        raise TagsFileError(f"{where}: unknown key {unknown[0]!r} (keys are 'tag' and 'created')")
    tag = item.get("tag")
    if not isinstance(tag, str):
        found = "missing" if "tag" not in item else f"a {_json_type(tag)}"
        raise TagsFileError(f"{where}: 'tag' must be a string, it is {found}")
    created = item.get("created")
    if created is None:
        return TagInfo(tag)
    if not isinstance(created, str):
        raise TagsFileError(f"{where} ({tag}): 'created' must be an RFC 3339 string or null, "
                            f"it is a {_json_type(created)}")
    try:
        return TagInfo(tag, parse_rfc3339(created))
    except ValueError as e:
        raise TagsFileError(f"{where} ({tag}): 'created': {e}") from None


def _tags_from_registry(ref: str, docker_config: Path | None) -> list[TagInfo]:
    """The tags of REF's repository with their image creation times, read from the
    registry as the controller's scanner reads them (tag list, manifest, config blob)."""
    import asyncio

    from headwater.imagepolicy import TagInfo
    from headwater.registry import (
        RegistryClient,
        RegistryError,
        Scanner,
        load_docker_config,
        parse,
    )

    keychain = load_docker_config(docker_config) if docker_config else None

    async def scan() -> list[TagInfo]:
        async with RegistryClient(credentials=keychain) as client:
            found = await Scanner(client).scan_repo(ref)
        if found.error:
            raise RegistryError(found.error, registry=parse(ref).registry)
        return [TagInfo(tag, entry.info.created)
                for tag, entry in sorted(found.entry.usable().items())]

    return asyncio.run(scan())


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_ERRORED)


def _when(tag: TagInfo) -> str:
    if tag.created is None:
        return "-"
    return tag.created.isoformat().replace("+00:00", "Z")


def policy_test(
    policy: Annotated[str, typer.Argument(
        help="A Flux tag policy: semver:~1.0, glob:master-*, regex:^v\\d+$ (glob when no "
             "prefix).", metavar="POLICY", show_default=False)],
    image: Annotated[str | None, typer.Option(
        "--image", metavar="REF", help="Read the tags of this image's repository from its "
                                       "registry.")] = None,
    docker_config: Annotated[Path | None, typer.Option(
        "--docker-config", metavar="FILE", exists=True, dir_okay=False,
        help="Docker config.json holding registry credentials.")] = None,
    tags_file: Annotated[Path | None, typer.Option(
        "--tags", metavar="FILE", help='Read the tags from a JSON list of {"tag": "1.0.1", '
                                       '"created": "2024-01-02T00:00:00Z" or null}.')] = None,
    current: Annotated[str | None, typer.Option(
        "--current", metavar="TAG", help="The tag running now: say whether fluxd would "
                                         "release the policy's latest over it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show which tag a Flux v1 tag policy picks, newest first, as fluxd 1.25.4 decides."""
    if (image is None) == (tags_file is None):
        raise typer.BadParameter("give exactly one of --image REF or --tags FILE")
    if tags_file is not None:
        try:
            tags = read_tags_file(tags_file)
        except TagsFileError as e:
            raise _fail(str(e)) from None
    else:
        assert image is not None
        from headwater.registry import InvalidReference, RegistryError

        try:
            tags = _tags_from_registry(image, docker_config)
        except (RegistryError, InvalidReference) as e:
            raise _fail(f"reading tags of {image}: {e}") from None
    from headwater.imagepolicy import UnsupportedPatternError, decide, parse_pattern, rank

    pattern = parse_pattern(policy)
    try:
        ranked = rank(pattern, tags)
        decision = decide(pattern, tags, current) if current is not None else None
    except UnsupportedPatternError as e:
        raise _fail(f"policy {policy!r}: {e}") from None
    best = ranked[0] if ranked else None
    if as_json:
        out: dict[str, Any] = {
            "policy": policy,
            "kind": pattern.kind.value,
            "valid": pattern.valid,
            "latest": best.tag if best else None,
            "ranked": [t.tag for t in ranked],
        }
        if decision is not None:
            out["would_update"] = decision.update
        typer.echo(json.dumps(out))
        return
    _print_human(policy, pattern.kind.value, pattern.valid, ranked, current, decision)


def _print_human(policy: str, kind: str, valid: bool, ranked: list[TagInfo],
                 current: str | None, decision: Decision | None) -> None:
    typer.echo(f"policy:  {policy}")
    typer.echo(f"kind:    {kind}")
    if valid:
        typer.echo("valid:   yes")
    else:
        admits = "every semver tag" if kind == "semver" else "every tag"
        typer.echo(f"valid:   no (fluxctl policy refuses it; fluxd matches it against {admits})")
    if ranked:
        typer.echo("ranked (newest first):")
        width = max(len(t.tag) for t in ranked)
        for t in ranked:
            typer.echo(f"  {t.tag:<{width}}  {_when(t)}")
    else:
        typer.echo("ranked:  no tag matches")
    typer.echo(f"latest:  {ranked[0].tag if ranked else '-'}")
    if current is not None and decision is not None:
        if decision.update and decision.latest is not None:
            typer.echo(f"current: {current}: would update to {decision.latest.tag}")
        else:
            typer.echo(f"current: {current}: would not update ({decision.reason})")


def register(app: typer.Typer) -> None:
    app.command("policy-test")(policy_test)
