"""The workloads of a manifest file and the Flux policies written on them.

Flux v1 automates Deployments, StatefulSets, DaemonSets and CronJobs (also inside a
`List`), each container and init container by name, under policies kept as
annotations (fluxcd/flux `pkg/cluster/kubernetes/resource/resource.go`,
`PoliciesFromAnnotations`): `fluxcd.io/<policy>`, the older `flux.weave.works/<policy>`,
and `filter.fluxcd.io/<container>` for `tag.<container>`. Flux reads them from a Go
map, so when two spellings of one policy disagree its pick is random; here the
order of `PolicyAnnotationKey` decides: `fluxcd.io/`, then `flux.weave.works/`, then
`filter.fluxcd.io/`.

Flux v2 marks fields instead: a line comment `# {"$imagepolicy": "ns:name"}` after a
value says "this field holds the image of policy ns:name" (`:tag` and `:name` hold
only that part of it; fluxcd/image-automation-controller `pkg/update/setters.go`).

Everything here is pure: text in, plain data out. Data comes from PyYAML's safe
loader (DESIGN.md §7), bounded (`headwater.yamlload`: an alias bomb is a
WorkloadError at its line, never an endless walk of the nodes); the composed nodes
give lines and line comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from headwater import yamlload
from headwater.errors import UserError
from headwater.kube.objects import IGNORE

POLICY_PREFIX = "fluxcd.io/"
ALTERNATE_POLICY_PREFIX = "flux.weave.works/"
FILTER_POLICY_PREFIX = "filter.fluxcd.io/"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
PATTERN_ALL = "glob:*"
SETTER_SHORTHAND = "$imagepolicy"

SetterForm = Literal["image", "name", "tag", "digest"]


class WorkloadError(UserError):
    """A manifest that cannot be read as Flux reads it: where, and what is wrong."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(line, message)
        self.line, self.message = line, message

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str
    init: bool = False


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload as Flux v1 sees it in Git.

    `policies` are keyed without prefix (`automated`, `tag.app`, ...), values as
    written; `annotations` are all of the workload's annotations, as strings."""

    kind: str
    namespace: str | None
    name: str
    source_line: int
    containers: tuple[Container, ...]
    policies: Mapping[str, str]
    annotations: Mapping[str, str]
    pull_secrets: tuple[str, ...] = ()  # the pod spec's imagePullSecrets names

    @property
    def id(self) -> str:
        """Flux's resource ID, `namespace:kind/name` with the kind in lower case."""
        kind_name = f"{self.kind.lower()}/{self.name}"
        return f"{self.namespace}:{kind_name}" if self.namespace else kind_name

    def _has(self, policy: str) -> bool:
        # policy.Set.Has: a boolean policy counts only when its value is "true".
        return self.policies.get(policy) == "true"

    @property
    def automated(self) -> bool:
        return self._has("automated")

    @property
    def locked(self) -> bool:
        return self._has("locked")

    @property
    def ignored(self) -> bool:
        """`ignore: "true"`; Flux's other value, `sync_only`, only stops the sync
        (kube/objects.py holds both values)."""
        return self.policies.get("ignore") == IGNORE

    @property
    def automatable(self) -> bool:
        """What fluxd's getAllowedAutomatedResources asks: automated, not locked, not ignored."""
        return self.automated and not self.locked and not self.ignored

    @property
    def locked_msg(self) -> str | None:
        return self.policies.get("locked_msg")

    @property
    def locked_user(self) -> str | None:
        return self.policies.get("locked_user")

    def tag_pattern(self, container: str) -> str:
        """The tag filter of `container`, as `policy.GetTagPattern`: `tag.<container>`
        or `glob:*`. A `tag_all` annotation is not read: Flux only ever writes
        `tag_all` as one `tag.<c>` per container (see `policy_changes`)."""
        return self.policies.get(f"tag.{container}", PATTERN_ALL)

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)

    def annotation_key(self, policy: str) -> str | None:
        """The annotation that holds `policy` here (Flux's `PolicyAnnotationKey`)."""
        for prefix in (POLICY_PREFIX, ALTERNATE_POLICY_PREFIX, FILTER_POLICY_PREFIX):
            if prefix == FILTER_POLICY_PREFIX:
                if not policy.startswith("tag."):
                    continue
                key = prefix + policy.removeprefix("tag.")
            else:
                key = prefix + policy
            if key in self.annotations:
                return key
        return None


def policies_from_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """Flux's `PoliciesFromAnnotations`, with a fixed winner when spellings collide."""
    ranked: dict[str, tuple[int, str]] = {}
    for key, value in annotations.items():
        for rank, prefix in enumerate(
                (POLICY_PREFIX, ALTERNATE_POLICY_PREFIX, FILTER_POLICY_PREFIX)):
            if key.startswith(prefix):
                policy = key.removeprefix(prefix)
                if prefix == FILTER_POLICY_PREFIX:
                    policy = "tag." + policy
                if policy not in ranked or rank < ranked[policy][0]:
                    ranked[policy] = (rank, value)
                break
    return {policy: value for policy, (_, value) in ranked.items()}


def policy_changes(
    workload: Workload, *, add: Mapping[str, str], remove: Iterable[str] = ()
) -> dict[str, str | None]:
    """The annotation edits for a policy update: Flux's `ChangesForPolicyUpdate` and
    `UpdateWorkloadPolicies`, ready for `manifestedit.set_annotations` (None removes).

    `tag_all` becomes `tag.<c>` for every container and init container, or removes
    them all when it is `glob:*` (or `*`). An added policy keeps the annotation key
    it already has, else gets `fluxcd.io/`. A removed policy loses every spelling it
    has (Flux removes only the first it finds, which can leave an older spelling in
    force). Patterns are not checked here: that is `imagepolicy`'s job."""
    adds, removes = dict(add), list(remove)
    if "tag_all" in adds:
        pattern = adds.pop("tag_all")
        for c in workload.containers:
            if pattern in (PATTERN_ALL, "*"):
                removes.append(f"tag.{c.name}")
            else:
                adds[f"tag.{c.name}"] = pattern
    changes: dict[str, str | None] = {}
    for policy, value in adds.items():
        changes[workload.annotation_key(policy) or POLICY_PREFIX + policy] = value
    for policy in removes:
        keys = [POLICY_PREFIX + policy, ALTERNATE_POLICY_PREFIX + policy]
        if policy.startswith("tag."):
            keys.append(FILTER_POLICY_PREFIX + policy.removeprefix("tag."))
        changes.update({key: None for key in keys if key in workload.annotations})
    return changes


def read_workloads(text: str, *, limits: yamlload.Limits = yamlload.DEFAULT
                   ) -> list[Workload]:
    """The workloads of one manifest file (a YAML stream), in document order.

    Other kinds are skipped; items of a `List` (any kind ending in `List`, as Flux)
    are read in place. Raises WorkloadError for YAML that does not parse and for a
    workload whose pod spec is not the shape Kubernetes gives it."""
    workloads: list[Workload] = []
    for node, document in _documents(text, limits):
        for line, obj in _objects(node, document):
            if isinstance(obj, dict) and obj.get("kind") in WORKLOAD_KINDS:
                workloads.append(_workload(obj, line))
    return workloads


def _documents(text: str, limits: yamlload.Limits) -> Iterator[tuple[Any, Any]]:
    """Each document's node and data (render.py reads the same way)."""
    try:
        loader = yamlload.Loader(text, limits=limits)
    except yamlload.YamlLimitError as e:
        raise WorkloadError(None, e.message) from e
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            yield node, loader.construct_document(node)
    except yamlload.YamlLimitError as e:
        raise WorkloadError(e.line, e.message) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise WorkloadError(mark.line + 1 if mark else None,
                            f"invalid YAML: {e.problem or e.context}") from e
    except yaml.YAMLError as e:  # a ReaderError: characters YAML does not allow
        raise WorkloadError(None, f"invalid YAML: {e}") from e
    finally:
        loader.dispose()


def _objects(node: Any, document: Any) -> Iterator[tuple[int, Any]]:
    """The object of a document, or each item of a List, with its 1-based line."""
    kind = document.get("kind") if isinstance(document, dict) else None
    items = document.get("items") if isinstance(kind, str) and kind.endswith("List") else None
    if not isinstance(items, list):
        yield node.start_mark.line + 1, document
        return
    # The last "items" key, as PyYAML's data has it when the key is written twice.
    item_nodes: list[Any] = [v.value for k, v in node.value if k.value == "items"][-1]
    for item_node, item in zip(item_nodes, items, strict=True):
        yield item_node.start_mark.line + 1, item


def _workload(obj: dict[str, Any], line: int) -> Workload:
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise WorkloadError(line, f"{obj['kind']}: metadata is not a mapping")
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise WorkloadError(line, f"{obj['kind']} {metadata.get('name')}: "
                            "metadata.annotations is not a mapping")
    notes = {str(k): _text(v) for k, v in annotations.items()}
    return Workload(
        kind=obj["kind"],
        namespace=_text(metadata.get("namespace")) or None,
        name=_text(metadata.get("name")),
        source_line=line,
        containers=tuple(_containers(obj, line)),
        policies=policies_from_annotations(notes),
        annotations=notes,
        pull_secrets=_pull_secrets(obj),
    )


def pod_spec_path(kind: str) -> tuple[str, ...]:
    """Where a workload kind keeps its pod spec."""
    if kind.lower() == "cronjob":
        return ("spec", "jobTemplate", "spec", "template", "spec")
    return ("spec", "template", "spec")


def _pull_secrets(obj: dict[str, Any]) -> tuple[str, ...]:
    spec: Any = obj
    for key in pod_spec_path(obj["kind"]):
        spec = spec.get(key) if isinstance(spec, dict) else None
    refs = spec.get("imagePullSecrets") if isinstance(spec, dict) else None
    if not isinstance(refs, list):
        return ()
    return tuple(str(r["name"]) for r in refs if isinstance(r, dict) and r.get("name"))


def _containers(obj: dict[str, Any], line: int) -> Iterator[Container]:
    spec: Any = obj
    path = pod_spec_path(obj["kind"])
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if spec is None:
        return
    where = f"{obj['kind']} {(obj.get('metadata') or {}).get('name')}: {'.'.join(path)}"
    if not isinstance(spec, dict):
        raise WorkloadError(line, f"{where} is not a mapping")
    for field_name, init in (("containers", False), ("initContainers", True)):
        entries = spec.get(field_name) or []
        if not isinstance(entries, list) or not all(isinstance(c, dict) for c in entries):
            raise WorkloadError(line, f"{where}.{field_name} is not a list of containers")
        for c in entries:
            yield Container(_text(c.get("name")), _text(c.get("image")), init)


def _text(value: Any) -> str:
    """A scalar as Go's yaml.v2 puts it in a string field: "" for null, YAML words
    for booleans (Kubernetes itself refuses annotations that are not strings)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- Flux v2 setter markers


@dataclass(frozen=True, slots=True)
class SetterMarker:
    """A field marked `# {"$imagepolicy": "<setter>"}`.

    `setter` is as written (`ns:name`, `ns:name:tag`, ...); `policy` is its
    `ns:name`; `form` says which part of the policy's image the field holds;
    `line` is 1-based; `field` is the key, `value` its current value."""

    setter: str
    policy: str
    form: SetterForm
    line: int
    field: str
    value: str


_FORMS: tuple[SetterForm, ...] = ("name", "tag", "digest")
_COMMENT = re.compile(r"[ \t]*#(?P<comment>[^\r\n]*)")


def parse_setter(setter: str) -> tuple[str, SetterForm]:
    """`ns:name[:form]` as (policy, form): the image-automation-controller defines a
    setter `ns:name` for the image and `ns:name:tag`, `ns:name:name` for its parts."""
    policy, _, last = setter.rpartition(":")
    if policy.count(":") == 1 and last in _FORMS:
        return policy, _FORMS[_FORMS.index(last)]
    return setter, "image"


def setter_comment(text: str, end: int) -> str | None:
    """The setter named by a line comment right after a value ending at `end`, if any.

    As kyaml's `fieldmeta.Read`: the comment, stripped of `#` and spaces, is a JSON
    object with the `$imagepolicy` key. One that mentions the key but is not such an
    object is a mistake (Flux fails the whole update): WorkloadError."""
    found = _COMMENT.match(text, end)
    if found is None or SETTER_SHORTHAND not in found["comment"]:
        return None
    try:
        marker = json.loads(found["comment"].lstrip("#").strip())
    except ValueError:
        marker = None
    setter = marker.get(SETTER_SHORTHAND) if isinstance(marker, dict) else None
    if not isinstance(setter, str):
        raise WorkloadError(text.count("\n", 0, end) + 1, f"the {SETTER_SHORTHAND} marker "
                            "must be a JSON object like {\"$imagepolicy\": \"namespace:policy\"}")
    return setter


def marked_fields(
    node: Any, text: str, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any, Any, str]]:
    """Every mapping field under a composed node whose value is followed by a setter
    comment: (path from `node`, key node, value node, setter).

    Works on PyYAML and ruamel.yaml nodes alike: both have `id` and start/end marks."""
    if node.id == "mapping":
        for key, value in node.value:
            here = (*path, key.value)
            if value.id != "scalar":
                yield from marked_fields(value, text, here)
                continue
            setter = setter_comment(text, value.end_mark.index)
            if setter is not None:
                yield here, key, value, setter
    elif node.id == "sequence":
        for i, item in enumerate(node.value):
            yield from marked_fields(item, text, (*path, i))


def setter_markers(text: str, *, limits: yamlload.Limits = yamlload.DEFAULT
                   ) -> list[SetterMarker]:
    """Every Flux v2 setter marker of a manifest file, in file order."""
    markers = []
    for node, _ in _documents(text, limits):
        for _, key, value, setter in marked_fields(node, text):
            policy, form = parse_setter(setter)
            markers.append(SetterMarker(setter, policy, form, value.start_mark.line + 1,
                                        str(key.value), value.value))
    return markers
