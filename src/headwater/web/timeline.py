"""A release's timeline: the path from a commit to running pods, one hop at a time.

`timeline(release, provenance)` joins what CD recorded of a release commit
(`cd.releases.ReleaseRecord`: the commit, the sync that applied it, the rollout) with
what CI recorded of the image it released (`ci.service.ImageProvenance`: the build that
pushed it and the git commit that build took) into six hops, in this order:

    commit          the app commit the build took (its committer time, from Git)
    build started   the build that pushed the released image started (CI's clock)
    image pushed    that build's put step ended: the image is in the registry
    release commit  the commit that set the image in the manifests (Git)
    synced          the first sync whose revision contains the release was applied
    pods ready      every workload the release changed finished rolling out

Each hop has its wall time and the time since the hop before it that has one. A hop
nobody recorded has no time and says why ("not recorded": the image was pushed by no
build of this server, the server started after the sync, ...): no time is ever made
up. Git keeps commit times in whole seconds, so a hop measured from or to a commit may
show up to a second early; `note` says so when it makes a duration negative.

Pure: data in, hops out; the web routes fetch the two records (`web/ui/cdroutes.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from headwater.cd.releases import ReleaseRecord
from headwater.ci.service import ImageProvenance
from headwater.store import Build

HOPS = ("commit", "build started", "image pushed", "release commit", "synced",
        "pods ready")
GIT_TIMES = frozenset({"commit", "release commit"})  # whole seconds, the committer's clock


@dataclass(frozen=True)
class Hop:
    name: str                   # one of HOPS
    at: datetime | None         # None: not recorded, `missing` says why
    detail: str                 # what happened, in a few words ("" when not recorded)
    missing: str = ""           # why there is no time
    ok: bool = True             # False: the sync or the rollout failed (`detail` says how)
    since: float | None = None  # seconds since `since_hop`'s time
    since_hop: str | None = None  # the hop `since` is measured from (the last with a time)
    note: str = ""              # a caveat on `since`
    build: Build | None = None  # the build hop's build (the page links to it)


def released_image(release: ReleaseRecord) -> str | None:
    """The image whose provenance the timeline follows: the first one the release set."""
    return release.images[0].new if release.images else None


def timeline(release: ReleaseRecord, provenance: ImageProvenance | None) -> list[Hop]:
    """The six hops of `release`, in order (see the module's docstring)."""
    hops = [*_ci_hops(release, provenance), _release_hop(release), _synced_hop(release),
            _ready_hop(release)]
    return _with_durations(hops)


def _ci_hops(release: ReleaseRecord, p: ImageProvenance | None) -> list[Hop]:
    image = released_image(release)
    if image is None:
        why = "the release commit changed no image"
        return [Hop(name, None, "", why) for name in HOPS[:3]]
    if p is None:
        why = f"no build of this server pushed {image}"
        return [Hop(name, None, "", why) for name in HOPS[:3]]
    build = f"build {_build_name(p.build)}"
    if p.commit is None:
        commit = Hop("commit", None, "", f"{build} took no git input")
    elif p.commit.committed_at is None:
        commit = Hop("commit", None, _commit_text(p.commit.resource, p.commit.ref,
                                                   p.commit.subject),
                     f"the version of {p.commit.resource} has no commit date")
    else:
        commit = Hop("commit", p.commit.committed_at,
                     _commit_text(p.commit.resource, p.commit.ref, p.commit.subject))
    if p.build.start_time is None:
        started = Hop("build started", None, build, f"{build} has no start time",
                      build=p.build)
    else:
        started = Hop("build started", p.build.start_time, build, build=p.build)
    pushed_text = f"{image} by {p.resource}" + (f" ({p.digest})" if p.digest else "")
    if p.pushed_at is None:
        pushed = Hop("image pushed", None, pushed_text,
                     f"the events of {build} have no end of its put step (pruned?)")
    else:
        pushed = Hop("image pushed", p.pushed_at, pushed_text)
    return [commit, started, pushed]


def _release_hop(release: ReleaseRecord) -> Hop:
    how = "image automation" if release.automated else "a release by hand"
    return Hop("release commit", release.committed_at,
               f"{release.commit[:12]} {release.subject} ({how}, {release.author})")


def _synced_hop(release: ReleaseRecord) -> Hop:
    s = release.synced
    if s is None:
        return Hop("synced", None, "", "no sync of this commit was seen by this server "
                   "(it started after the sync, or the sync has not run yet)")
    took = (s.finished - s.started).total_seconds()
    if not s.ok:
        return Hop("synced", s.finished, f"the sync of {s.revision[:12]} failed: "
                   f"{s.message}", ok=False)
    return Hop("synced", s.finished, f"revision {s.revision[:12]} applied "
               f"(the sync took {took:.1f}s)")


def _ready_hop(release: ReleaseRecord) -> Hop:
    r = release.ready
    if r is None:
        why = ("not synced yet" if release.synced is None else
               "the rollout is still being watched, or was not watched")
        return Hop("pods ready", None, "", why)
    if not r.ok:
        return Hop("pods ready", r.at, f"the rollout did not complete: {r.message}",
                   ok=False)
    return Hop("pods ready", r.at, "every workload the release changed rolled out")


def _with_durations(hops: list[Hop]) -> list[Hop]:
    out: list[Hop] = []
    last: tuple[str, datetime] | None = None  # the last hop with a time
    for hop in hops:
        timed = hop
        if hop.at is not None and last is not None:
            since = (hop.at - last[1]).total_seconds()
            timed = replace(hop, since=since, since_hop=last[0],
                            note=_note(since, last[0], hop.name))
        out.append(timed)
        if hop.at is not None:
            last = (hop.name, hop.at)
    return out


def _note(since: float, before: str, after: str) -> str:
    if since >= 0:
        return ""
    if GIT_TIMES & {before, after}:
        return "Git keeps commit times in whole seconds (and the committer's clock)"
    return "the two times come from different clocks"


def _build_name(b: Build) -> str:
    if b.pipeline_name and b.job_name:
        return f"{b.pipeline_name}/{b.job_name} #{b.name}"
    return f"#{b.id}"


def _commit_text(resource: str, ref: str, subject: str) -> str:
    return f"{resource} {ref[:12]}" + (f": {subject}" if subject else "")
