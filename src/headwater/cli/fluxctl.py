"""fluxctl's verbs on `headwater`: each reads the manifests of a Git source (named with
`cd`'s flags) and changes them through one commit, as Flux v1 does.

`list-workloads`, `list-images`, `automate`, `deautomate`, `lock`, `unlock`,
`policy`, `release`, `rollback`. The logic is `headwater.cd.verbs`; here are flags,
output and exit codes (a user's mistake or an error: 2, nothing committed). The engine
(`headwater.cd`, git, the registry client) is imported inside the verbs, so that
`headwater --help` does not load it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from headwater.cli.cd import default_identity
from headwater.cli.paths import data_dir

if TYPE_CHECKING:
    from headwater.cd import verbs
    from headwater.gitrepo import Checkout
    from headwater.registry import RegistryClient

T = TypeVar("T")

WorkloadOpt = Annotated[str, typer.Option(
    "--workload", "-w", help="The workload, as fluxctl names it: default:deployment/app.")]
GitUrl = Annotated[str, typer.Option("--git-url", help="The Git repository of the manifests.")]
GitBranch = Annotated[str, typer.Option("--git-branch", help="Branch to read and commit to.")]
GitPath = Annotated[list[str] | None, typer.Option(
    "--git-path", help="Path(s) in the repository holding manifests (repeatable; default: all).")]
GitSshKey = Annotated[Path | None, typer.Option(
    "--git-ssh-key", help="Deploy key for ssh URLs (default: `headwater identity`'s).")]
GitKnownHosts = Annotated[Path | None, typer.Option(
    "--git-known-hosts", help="known_hosts for ssh (default: trust on first use).")]
GitUser = Annotated[str, typer.Option("--git-user", help="Committer name.")]
GitEmail = Annotated[str, typer.Option("--git-email", help="Committer email.")]
GitToken = Annotated[str | None, typer.Option(
    "--git-token", envvar="HEADWATER_GIT_TOKEN", help="Token for https URLs.")]
Workdir = Annotated[Path | None, typer.Option(
    "--workdir", help="Where the working copy lives (kept between runs).")]
Message = Annotated[str | None, typer.Option("--message", "-m", help="Why (in the commit).")]
User = Annotated[str | None, typer.Option(
    "--user", help="Author of the commit, 'Name <email>' (the committer is --git-user).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DockerConfig = Annotated[Path | None, typer.Option(
    "--docker-config", help="Docker config.json with registry credentials.", exists=True,
    dir_okay=False)]


@dataclass(frozen=True)
class GitSource:
    url: str
    branch: str
    paths: tuple[str, ...]
    ssh_key: Path | None
    known_hosts: Path | None
    user: str
    email: str
    workdir: Path | None
    token: str | None = None

    def checkout(self) -> Checkout:
        from headwater.gitrepo import Checkout, GitAuth

        key = self.ssh_key
        if key is None and (self.url.startswith("ssh://") or "@" in self.url.split("/")[0]):
            key = default_identity() if default_identity().exists() else None
        base = self.workdir or data_dir() / "fluxctl"
        digest = hashlib.sha256(f"{self.url}#{self.branch}".encode()).hexdigest()[:12]
        return Checkout(self.url, self.branch, base / f"fluxctl-{digest}",
                        auth=GitAuth(ssh_key=key, known_hosts=self.known_hosts,
                                     token=self.token),
                        user=self.user, email=self.email)

    def author(self, user: str | None) -> verbs.Author | None:
        from headwater.cd import verbs

        return verbs.parse_author(user, self.email) if user else None


def _source(url: str, branch: str, paths: list[str] | None, ssh_key: Path | None,
            known_hosts: Path | None, user: str, email: str, workdir: Path | None,
            token: str | None) -> GitSource:
    return GitSource(url, branch, tuple(paths or ()) or (".",), ssh_key, known_hosts, user,
                     email, workdir, token)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; a user's mistake or a failure is reported and exits 2."""
    import asyncio

    from headwater.cd import verbs
    from headwater.cd.manifestedit import EditError
    from headwater.cd.workloads import WorkloadError
    from headwater.gitrepo import GitError
    from headwater.registry import RegistryError

    try:
        return asyncio.run(work())
    except (verbs.VerbError, EditError, WorkloadError) as e:
        raise _fail(str(e)) from None
    except GitError as e:
        raise _fail(f"git: {e}") from None
    except RegistryError as e:
        raise _fail(f"registry: {e}") from None


def _pushed(revision: str | None, what: str) -> None:
    if revision is None:
        typer.echo(f"Nothing to commit: {what}")
    else:
        typer.echo(f"Commit pushed:\t{revision[:7]}")


def _registry(docker_config: Path | None) -> RegistryClient:
    from headwater.registry import RegistryClient, load_docker_config

    return RegistryClient(credentials=load_docker_config(docker_config)
                          if docker_config else None)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


# -- listing


def list_workloads(
    git_url: GitUrl, workload: Annotated[str | None, typer.Option(
        "--workload", "-w", help="Only this workload.")] = None,
    git_branch: GitBranch = "master", git_path: GitPath = None, git_ssh_key: GitSshKey = None,
    git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
    git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
    workdir: Workdir = None, json_: Json = False,
) -> None:
    """List the workloads in Git, their containers, images and policies."""
    from headwater.cd import verbs
    from headwater.cd.workloads import PATTERN_ALL

    src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                  git_email, workdir, git_token)
    found = _run(lambda: verbs.list_workloads(src.checkout(), src.paths, workload))
    if json_:
        typer.echo(json.dumps([loc.to_json() for loc in found], indent=2))
        return
    rows = [["WORKLOAD", "CONTAINER", "IMAGE", "POLICY"]]
    for loc in found:
        w = loc.workload
        flags = [p for p, on in (("automated", w.automated), ("locked", w.locked),
                                 ("ignore", w.ignored)) if on]
        if not w.containers:
            rows.append([loc.id, "", "", ",".join(flags)])
        for i, c in enumerate(w.containers):
            policy = list(flags) if i == 0 else []
            if w.tag_pattern(c.name) != PATTERN_ALL:
                policy.append(f"tag.{c.name}={w.tag_pattern(c.name)}")
            rows.append([loc.id if i == 0 else "", c.name, c.image, ",".join(policy)])
    typer.echo(_table(rows))


def list_images(
    git_url: GitUrl, workload: Annotated[str | None, typer.Option(
        "--workload", "-w", help="Only this workload.")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", "-l", help="Tags shown per container (0: all).")] = 10,
    docker_config: DockerConfig = None,
    git_branch: GitBranch = "master", git_path: GitPath = None, git_ssh_key: GitSshKey = None,
    git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
    git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
    workdir: Workdir = None, json_: Json = False,
) -> None:
    """Each container's image and the registry's tags its policy allows, newest first."""
    from headwater.cd import verbs
    from headwater.registry import FLUX_DEFAULT_EXCLUDE, Scanner

    src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                  git_email, workdir, git_token)

    async def work() -> list[verbs.ContainerImages]:
        async with _registry(docker_config) as client:
            scanner = Scanner(client, exclude=FLUX_DEFAULT_EXCLUDE)
            return await verbs.list_images(src.checkout(), src.paths, scanner, workload)

    found = _run(work)
    if json_:
        typer.echo(json.dumps([c.to_json() for c in found], indent=2))
        return
    rows = [["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"]]
    last = None
    for c in found:
        rows.append([c.workload if c.workload != last else "", c.container,
                     c.image.rpartition(":")[0] if c.current else c.image, ""])
        last = c.workload
        if c.error:
            rows.append(["", "", f"({c.error})", ""])
            continue
        shown = c.tags if limit <= 0 else c.tags[:limit]
        for t in shown:
            mark = "'->" if t.tag == c.current else "|  "
            created = t.created.astimezone(UTC).strftime("%d %b %y %H:%M UTC") \
                if t.created else ""
            rows.append(["", "", f"{mark} {t.tag}", created])
        if len(c.tags) > len(shown):
            rows.append(["", "", f":   ({len(c.tags) - len(shown)} more)", ""])
    typer.echo(_table(rows))


# -- policies


def _policy_call(name: str) -> Callable[..., Coroutine[Any, Any, str | None]]:
    """The `headwater.cd.verbs` function behind the policy verb `name`."""
    from headwater.cd import verbs

    calls: dict[str, Callable[..., Coroutine[Any, Any, str | None]]] = {
        "automate": verbs.automate, "deautomate": verbs.deautomate,
        "lock": verbs.lock, "unlock": verbs.unlock}
    return calls[name]


def _policy_verb(name: str, doc: str) -> Callable[..., None]:
    def command(
        workload: WorkloadOpt, git_url: GitUrl, git_branch: GitBranch = "master",
        git_path: GitPath = None, git_ssh_key: GitSshKey = None,
        git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
        git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
        workdir: Workdir = None, message: Message = None, user: User = None,
    ) -> None:
        src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                      git_email, workdir, git_token)
        call = _policy_call(name)
        revision = _run(lambda: call(src.checkout(), src.paths, workload, message=message,
                                     author=src.author(user)))
        _pushed(revision, f"{workload} unchanged")

    command.__doc__ = doc
    command.__name__ = name
    return command


def policy(
    workload: WorkloadOpt, git_url: GitUrl,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="container=pattern (repeatable; `*` removes the filter).")] = None,
    tag_all: Annotated[str | None, typer.Option(
        "--tag-all", help="The pattern of every container (`*` removes them).")] = None,
    git_branch: GitBranch = "master", git_path: GitPath = None, git_ssh_key: GitSshKey = None,
    git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
    git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
    workdir: Workdir = None, message: Message = None, user: User = None,
) -> None:
    """Set the tag filters of a workload's containers (semver:, glob:, regexp:)."""
    from headwater.cd import verbs

    tags: dict[str, str] = {}
    for pair in tag or []:
        container, eq, pattern = pair.partition("=")
        if not eq or not container or not pattern:
            raise _fail(f"invalid --tag {pair!r}: expected container=pattern")
        tags[container] = pattern
    if not tags and tag_all is None:
        raise _fail("give --tag container=pattern or --tag-all pattern")
    src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                  git_email, workdir, git_token)
    revision = _run(lambda: verbs.policy(src.checkout(), src.paths, workload, tags=tags,
                                         tag_all=tag_all, message=message,
                                         author=src.author(user)))
    _pushed(revision, f"{workload} unchanged")


# -- images


def release(
    workload: WorkloadOpt, git_url: GitUrl,
    update_image: Annotated[str | None, typer.Option(
        "--update-image", "-i", help="IMAGE:TAG for the containers using IMAGE.")] = None,
    update_all_images: Annotated[bool, typer.Option(
        "--update-all-images", help="Each container to the newest tag its policy allows.")
    ] = False,
    force: Annotated[bool, typer.Option(
        "--force", "-f", help="Release a locked workload too.")] = False,
    docker_config: DockerConfig = None,
    git_branch: GitBranch = "master", git_path: GitPath = None, git_ssh_key: GitSshKey = None,
    git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
    git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
    workdir: Workdir = None, message: Message = None, user: User = None,
) -> None:
    """Release an image to a workload, through a commit."""
    from headwater.cd import verbs
    from headwater.registry import Scanner

    if (update_image is None) == (not update_all_images):
        raise _fail("give one of --update-image IMAGE:TAG or --update-all-images")
    src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                  git_email, workdir, git_token)

    async def work() -> tuple[str | None, dict[str, str]]:
        async with _registry(docker_config) as client:
            return await verbs.release(
                src.checkout(), src.paths, workload, image=update_image,
                scanner=None if update_image else Scanner(client), force=force,
                message=message, author=src.author(user))

    revision, images = _run(work)
    for container, image in sorted(images.items()):
        typer.echo(f"{workload} {container}: {image}")
    _pushed(revision, f"{workload} already runs the image(s)")


def rollback(
    workload: WorkloadOpt, git_url: GitUrl,
    git_branch: GitBranch = "master", git_path: GitPath = None, git_ssh_key: GitSshKey = None,
    git_known_hosts: GitKnownHosts = None, git_user: GitUser = "headwater",
    git_email: GitEmail = "headwater@localhost", git_token: GitToken = None,
    workdir: Workdir = None, message: Message = None, user: User = None,
) -> None:
    """Restore the image before the last image change, and lock the workload."""
    from headwater.cd import verbs

    src = _source(git_url, git_branch, git_path, git_ssh_key, git_known_hosts, git_user,
                  git_email, workdir, git_token)
    revision, images = _run(lambda: verbs.rollback(src.checkout(), src.paths, workload,
                                                   message=message, author=src.author(user)))
    for container, image in sorted(images.items()):
        typer.echo(f"{workload} {container}: {image} (locked)")
    _pushed(revision, f"{workload} already runs the previous image(s)")


def register(app: typer.Typer) -> None:
    app.command("list-workloads")(list_workloads)
    app.command("list-images")(list_images)
    app.command("automate")(_policy_verb(
        "automate", "Automate a workload: release new images its policies allow."))
    app.command("deautomate")(_policy_verb("deautomate", "Stop automating a workload."))
    app.command("lock")(_policy_verb(
        "lock", "Lock a workload: no release, automated or not, changes it."))
    app.command("unlock")(_policy_verb("unlock", "Unlock a workload."))
    app.command("policy")(policy)
    app.command("release")(release)
    app.command("rollback")(rollback)
