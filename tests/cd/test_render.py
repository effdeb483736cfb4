"""Rendering a Git path: every object, where it came from, and every mistake at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from headwater.cd.render import Manifest, RenderError, RenderErrors, RenderFailed, render
from headwater.devstack import kubebuild
from headwater.errors import UserError

TESTDATA = Path(__file__).parent / "testdata" / "render"


@pytest.fixture(scope="module")
def kubectl() -> str:
    return str(kubebuild.ensure() / "kubectl")


def tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return root


def cm(name: str, namespace: str | None = None, *, api: str = "v1", kind: str = "ConfigMap"
       ) -> str:
    ns = f"\n  namespace: {namespace!r}" if namespace is not None else ""
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{ns}\n"


def item(text: str) -> str:
    """`text` as an entry of a YAML sequence (the items of a List)."""
    return "- " + text.rstrip("\n").replace("\n", "\n  ") + "\n"


def located(manifests: list[Manifest]) -> list[tuple[str, str]]:
    return [(m.location, m.name) for m in manifests]


def errors_of(root: Path, paths: list[str], kubectl: str | None = None) -> list[str]:
    with pytest.raises(RenderFailed) as e:
        render(root, paths, kubectl=kubectl)
    assert str(e.value) == "\n".join(str(err) for err in e.value.errors)
    return [str(err) for err in e.value.errors]


def describe(root: Path, kubectl: str) -> str:
    """What a golden file records: each object and its location, or every error."""
    try:
        manifests = render(root, ["."], kubectl=kubectl)
    except RenderErrors as e:
        return f"errors:\n{e}\n"
    return "".join(
        f"{m.location} {m.api_version} {m.kind} {m.namespace or '-'}/{m.name}\n"
        for m in manifests
    )


@pytest.mark.parametrize("case", sorted(p.name for p in TESTDATA.iterdir()))
def test_golden_repositories_render_as_recorded(case: str, kubectl: str) -> None:
    """Set HEADWATER_UPDATE_GOLDEN=1 to rewrite expected.txt after a deliberate change."""
    got = describe(TESTDATA / case / "repo", kubectl)
    expected = TESTDATA / case / "expected.txt"
    if os.environ.get("HEADWATER_UPDATE_GOLDEN"):
        expected.write_text(got)
    assert got == expected.read_text()


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(cm("a"), [("m.yaml:1", "a")], id="one document"),
    pytest.param("---\n" + cm("a"), [("m.yaml:2", "a")], id="leading ---"),
    pytest.param("# first\n\n# second\n" + cm("a"), [("m.yaml:4", "a")],
                 id="comments before the first document"),
    pytest.param("# c\n---\n# about a\n" + cm("a") + "---\n" + cm("b"),
                 [("m.yaml:4", "a"), ("m.yaml:9", "b")], id="comments then ---"),
    pytest.param(cm("a") + "...\n---\n" + cm("b") + "...\n",
                 [("m.yaml:1", "a"), ("m.yaml:7", "b")], id="... document ends"),
    pytest.param("---\n---\n\n---\n" + cm("a") + "---\n", [("m.yaml:5", "a")],
                 id="empty documents are skipped"),
    pytest.param("---\n# nothing\n...\n---\nnull\n---\n~\n", [], id="null documents"),
    pytest.param("# only a comment\n", [], id="only comments"),
    pytest.param("", [], id="empty file"),
    pytest.param("%YAML 1.1\n---\n" + cm("a"), [("m.yaml:3", "a")], id="directive"),
    pytest.param("--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
                 [("m.yaml:1", "a")], id="flow mapping on the --- line"),
    pytest.param("\ufeff" + cm("a"), [("m.yaml:1", "a")], id="byte order mark"),
])
def test_each_document_records_the_line_it_starts_on(
    tmp_path: Path, text: str, expected: list[tuple[str, str]]
) -> None:
    tree(tmp_path, {"m.yaml": text})
    assert located(render(tmp_path, ["m.yaml"])) == expected


def test_a_manifest_keeps_the_object_as_yaml_builds_it(tmp_path: Path) -> None:
    tree(tmp_path, {"deploy/web.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n"
        "spec:\n  replicas: 2\n  paused: false\n"
    ), "cm.yaml": cm("empty-ns", "")})
    web, empty = render(tmp_path, ["deploy", "cm.yaml"])
    assert web.obj == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"replicas": 2, "paused": False},
    }
    assert (web.api_version, web.kind, web.name, web.namespace) == (
        "apps/v1", "Deployment", "web", "prod")
    assert (web.source, web.line, web.location) == ("deploy/web.yaml", 1, "deploy/web.yaml:1")
    assert empty.namespace is None
    assert empty.obj["metadata"]["namespace"] == ""  # the object itself is untouched


def test_directories_are_walked_in_sorted_order_and_only_manifest_files_are_read(
    tmp_path: Path
) -> None:
    tree(tmp_path, {
        "b.yaml": cm("b"),
        "a/z.yaml": cm("a-z"),
        "a/b/c.yml": cm("a-b-c"),
        "a/b.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a-b"}}',
        "a-sibling/x.yaml": cm("a-sibling"),
        "C.yaml": cm("upper-c"),
        "notes.md": "not: [yaml",
        "chart/values.yaml.tmpl": "{{ .Values }}",
        "Makefile": "all:\n",
        "script.py": "print()\n",
    })
    assert [m.source for m in render(tmp_path, ["."])] == [
        "C.yaml", "a/b/c.yml", "a/b.json", "a/z.yaml", "a-sibling/x.yaml", "b.yaml",
    ]  # each directory's entries by name, as Go's filepath.Walk (Flux v1) visits them


def test_names_starting_with_a_dot_are_skipped(tmp_path: Path) -> None:
    tree(tmp_path, {
        ".flux.yaml": "version: 1\n",
        ".git/config.yaml": "not: [valid",
        ".github/workflows/ci.yml": "on: push\n",
        "apps/.hidden/x.yaml": cm("hidden"),
        "apps/.draft.yaml": cm("draft"),
        "apps/web.yaml": cm("web"),
    })
    assert located(render(tmp_path, [""])) == [("apps/web.yaml:1", "web")]


@pytest.mark.parametrize(("paths", "sources"), [
    (["."], ["a/one.yaml", "b/two.yaml", "top.yaml"]),
    ([""], ["a/one.yaml", "b/two.yaml", "top.yaml"]),
    (["b", "a"], ["b/two.yaml", "a/one.yaml"]),
    (["./a/", "top.yaml"], ["a/one.yaml", "top.yaml"]),
    (["a/../b/two.yaml"], ["b/two.yaml"]),
    (["a/one.yaml", ".", "a"], ["a/one.yaml", "b/two.yaml", "top.yaml"]),
    (["odd/manifest.txt"], ["odd/manifest.txt"]),
    ([".hidden.yaml"], [".hidden.yaml"]),
    ([], []),
])
def test_paths_are_read_in_the_order_given_each_file_once(
    tmp_path: Path, paths: list[str], sources: list[str]
) -> None:
    tree(tmp_path, {"a/one.yaml": cm("one"), "b/two.yaml": cm("two"), "top.yaml": cm("top"),
                    "odd/manifest.txt": cm("odd"), ".hidden.yaml": cm("hidden")})
    assert [m.source for m in render(tmp_path, paths)] == sources


def test_lists_are_flattened_with_the_location_of_the_list(tmp_path: Path) -> None:
    tree(tmp_path, {"lists.yaml": (
        cm("before")
        + "---\napiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: one}}\n"
        "- apiVersion: v1\n  kind: List\n  items:\n"
        "  - {apiVersion: v1, kind: Secret, metadata: {name: nested}}\n"
        "---\napiVersion: v1\nkind: ConfigMapList\nmetadata: {resourceVersion: '1'}\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}\n"
        "---\napiVersion: v1\nkind: List\n"
        "---\napiVersion: shop.example.com/v1\nkind: ShoppingList\nmetadata: {name: groceries}\n"
        "spec: {items: 3}\n"
    )})
    manifests = render(tmp_path, ["."])
    assert [(m.location, m.kind, m.name) for m in manifests] == [
        ("lists.yaml:1", "ConfigMap", "before"),
        ("lists.yaml:6", "ConfigMap", "one"),
        ("lists.yaml:6", "Secret", "nested"),
        ("lists.yaml:15", "ConfigMap", "two"),
        ("lists.yaml:24", "ShoppingList", "groceries"),  # a kind named ...List, no items list
    ]


def test_json_files_are_read_with_the_yaml_loader(tmp_path: Path) -> None:
    tree(tmp_path, {
        "tabs.json": '\n\n{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n'
                     '\t"metadata": {"name": "tabs"},\n\t"data": {"n": "1", "slash": "a\\/b"}\n}\n',
        "x.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "emoji"}, '
                  '"data": {"smile": "\\ud83d\\ude00"}}',
    })
    tabs, emoji = render(tmp_path, ["."])
    assert (tabs.location, tabs.obj["data"]) == ("tabs.json:3", {"n": "1", "slash": "a/b"})
    assert (emoji.location, emoji.obj["data"]) == ("x.json:1", {"smile": "\U0001f600"})


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n data: {}\n",
        ["m.yaml:5: invalid YAML: did not find expected key "
         "(while parsing a block mapping at line 1)"], id="bad indentation"),
    pytest.param(
        cm("a") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\n",
        ["m.yaml:9: invalid YAML: did not find expected ',' or '}' "
         "(while parsing a flow mapping at line 8)"], id="syntax error in a later document"),
    pytest.param(
        "apiVersion: v1\nkind: 'ConfigMap\n",
        ["m.yaml:3: invalid YAML: found unexpected end of stream "
         "(while scanning a quoted scalar at line 2)"], id="unterminated quote"),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: !vault {name: a}\n",
        ["m.yaml:3: invalid YAML: could not determine a constructor for the tag '!vault'"],
        id="unknown tag"),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \xff}\n",
        ["m.yaml:3: invalid YAML: unacceptable character #x00ff: invalid leading UTF-8 octet"],
        id="not UTF-8"),
    pytest.param("hello\n", ["m.yaml:1: not a Kubernetes object: the document is a string, "
                             "not a mapping"], id="scalar document"),
    pytest.param("# c\n- a\n- b\n", ["m.yaml:2: not a Kubernetes object: the document is a "
                                     "sequence, not a mapping"], id="sequence document"),
    pytest.param("42\n", ["m.yaml:1: not a Kubernetes object: the document is an integer, "
                          "not a mapping"], id="number document"),
    pytest.param("kind: ConfigMap\nmetadata: {name: a}\n", ["m.yaml:1: missing apiVersion"],
                 id="no apiVersion"),
    pytest.param("apiVersion: v1\nmetadata: {name: a}\n", ["m.yaml:1: missing kind"],
                 id="no kind"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\n", ["m.yaml:1: missing metadata.name"],
                 id="no metadata"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ''\n",
                 ["m.yaml:1: missing metadata.name"], id="empty name"),
    pytest.param("data: {a: b}\n", ["m.yaml:1: missing apiVersion, kind, metadata.name"],
                 id="nothing of an object"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: [name, a]\n",
                 ["m.yaml:1: metadata must be a mapping, not a sequence"], id="metadata list"),
    pytest.param("apiVersion: 1\nkind: ConfigMap\nmetadata: {name: 007, namespace: true}\n",
                 ["m.yaml:1: apiVersion must be a string, not an integer; metadata.name must "
                  "be a string, not an integer; metadata.namespace must be a string, "
                  "not a boolean"], id="wrong types"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 2024-01-01}\n",
                 ["m.yaml:1: metadata.name must be a string, not a date"], id="date name"),
    pytest.param("apiVersion: v1\nkind: List\nitems: {a: b}\n",
                 ["m.yaml:1: items must be a sequence, not a mapping"], id="List items mapping"),
    pytest.param(
        "---\napiVersion: v1\nkind: List\nitems:\n" + item(cm("ok"))
        + "- {kind: Secret, metadata: {name: s}}\n- text\n- {apiVersion: v1, kind: List, items: "
        "[{}]}\n",
        ["m.yaml:2: items[1]: missing apiVersion",
         "m.yaml:2: items[2]: not a Kubernetes object: the document is a string, not a mapping",
         "m.yaml:2: items[3]: items[0]: missing apiVersion, kind, metadata.name"],
        id="bad List items"),
    pytest.param("apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: "
                 "ConfigMap, metadata: {}}\n", ["m.yaml:1: items[0]: missing metadata.name"],
                 id="bad typed List item"),
    pytest.param("kind: List\n", ["m.yaml:1: missing apiVersion"], id="List without apiVersion"),
    pytest.param("hello\n---\n" + cm("a") + "---\n[\n",
                 ["m.yaml:1: not a Kubernetes object: the document is a string, not a mapping",
                  "m.yaml:9: invalid YAML: did not find expected node content "
                  "(while parsing a flow node)"],
                 id="a bad document, then a syntax error"),
])
def test_mistakes_name_the_file_and_line(
    tmp_path: Path, text: str | bytes, expected: list[str]
) -> None:
    tree(tmp_path, {"m.yaml": text})
    assert errors_of(tmp_path, ["."]) == expected


def test_a_json_syntax_error_names_its_line(tmp_path: Path) -> None:
    tree(tmp_path, {"m.json": '{\n  "apiVersion": "v1",\n  "kind": "ConfigMap"\n  "x": 1\n}\n'})
    assert errors_of(tmp_path, ["m.json"]) == [
        "m.json:4: invalid YAML: did not find expected ',' or '}' "
        "(while parsing a flow mapping at line 1)"]


def test_every_broken_file_is_reported_together_in_file_order(tmp_path: Path) -> None:
    tree(tmp_path, {
        "a/ok.yaml": cm("ok"),
        "a/syntax.yaml": "a: [\n",
        "b/noname.yaml": cm("x") + "---\napiVersion: v1\nkind: Secret\n",
        "c.json": "[]",
        "d.yml": "\n\nplain\n",
    })
    errors = errors_of(tmp_path, ["d.yml", "a", "missing", "b", "c.json"])
    assert errors == [
        "d.yml:3: not a Kubernetes object: the document is a string, not a mapping",
        "a/syntax.yaml:2: invalid YAML: did not find expected node content "
        "(while parsing a flow node)",
        "missing: no such file or directory in the repository",
        "b/noname.yaml:6: missing metadata.name",
        "c.json:1: not a Kubernetes object: the document is a sequence, not a mapping",
    ]


def test_render_error_fields_and_text() -> None:
    located_error = RenderError("apps/web.yaml", 12, "missing kind")
    whole_path = RenderError("../etc", None, "path is outside the repository")
    assert (located_error.source, located_error.line, located_error.message) == (
        "apps/web.yaml", 12, "missing kind")
    assert str(located_error) == "apps/web.yaml:12: missing kind"
    assert str(whole_path) == "../etc: path is outside the repository"
    both = RenderErrors([located_error, whole_path])
    assert both.errors == [located_error, whole_path]
    assert str(both) == "apps/web.yaml:12: missing kind\n../etc: path is outside the repository"


@pytest.mark.parametrize(("files", "expected"), [
    pytest.param({"a.yaml": cm("web", "prod"), "b/c.yaml": "# again\n" + cm("web", "prod")},
                 ["b/c.yaml:2: duplicate ConfigMap prod/web (v1), first defined at a.yaml:1"],
                 id="two files"),
    pytest.param({"a.yaml": cm("web") + "---\n" + cm("web", "") + "---\n" + cm("web")},
                 ["a.yaml:6: duplicate ConfigMap web (v1), first defined at a.yaml:1",
                  "a.yaml:12: duplicate ConfigMap web (v1), first defined at a.yaml:1"],
                 id="no namespace and empty namespace are the same"),
    pytest.param({"a.yaml": cm("w", "p", api="apps/v1", kind="Deployment"),
                  "b.yaml": cm("w", "p", api="apps/v1beta2", kind="Deployment")},
                 ["b.yaml:1: duplicate Deployment p/w (apps/v1beta2), first defined at a.yaml:1"],
                 id="same group, other version"),
    pytest.param({"a.yaml": cm("x") + "---\napiVersion: v1\nkind: List\nitems:\n"
                  + item(cm("x"))},
                 ["a.yaml:6: duplicate ConfigMap x (v1), first defined at a.yaml:1"],
                 id="inside a List"),
])
def test_the_same_object_twice_names_both_locations(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    tree(tmp_path, files)
    assert errors_of(tmp_path, ["."]) == expected


def test_objects_that_differ_in_group_kind_namespace_or_name_are_not_duplicates(
    tmp_path: Path
) -> None:
    tree(tmp_path, {"all.yaml": "---\n".join([
        cm("w"), cm("w", "prod"), cm("w", "dev"), cm("w2"),
        cm("w", kind="Secret"), cm("w", kind="configmap"),
        cm("w", api="example.com/v1", kind="Widget"), cm("w", api="other.io/v1", kind="Widget"),
    ])})
    assert len(render(tmp_path, ["."])) == 8


@pytest.mark.parametrize(("path", "expected"), [
    ("..", ["..: path is outside the repository"]),
    ("../elsewhere", ["../elsewhere: path is outside the repository"]),
    ("apps/../../x.yaml", ["apps/../../x.yaml: path is outside the repository"]),
    ("/etc", ["/etc: path is outside the repository"]),
    ("out-file.yaml", ["out-file.yaml: path leads outside the repository through a symlink"]),
    ("out-dir", ["out-dir: path leads outside the repository through a symlink"]),
    ("out-dir/secret.yaml",
     ["out-dir/secret.yaml: path leads outside the repository through a symlink"]),
    ("nope", ["nope: no such file or directory in the repository"]),
    ("apps/nope.yaml", ["apps/nope.yaml: no such file or directory in the repository"]),
])
def test_a_path_that_is_missing_or_leaves_the_repository_is_an_error(
    tmp_path: Path, path: str, expected: list[str]
) -> None:
    outside = tree(tmp_path / "outside", {"secret.yaml": cm("stolen")})
    root = tree(tmp_path / "repo", {"apps/web.yaml": cm("web")})
    (root / "out-file.yaml").symlink_to(outside / "secret.yaml")
    (root / "out-dir").symlink_to(outside)
    assert errors_of(root, [path]) == expected


def test_symlinks_found_while_walking_stay_inside_the_repository(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"secret.yaml": cm("stolen")})
    root = tree(tmp_path / "repo", {"apps/web.yaml": cm("web"), "shared/db.yaml": cm("db")})
    (root / "apps" / "leak.yaml").symlink_to(outside / "secret.yaml")
    (root / "apps" / "leakdir").symlink_to(outside)
    (root / "apps" / "gone.yaml").symlink_to(root / "nowhere.yaml")
    (root / "apps" / "loop.yaml").symlink_to(root / "apps" / "loop.yaml")
    (root / "apps" / "README").symlink_to(outside / "secret.yaml")  # not a manifest name
    assert errors_of(root, ["apps"]) == [
        "apps/gone.yaml: broken symlink",
        "apps/leak.yaml: path leads outside the repository through a symlink",
        "apps/leakdir: path leads outside the repository through a symlink",
        "apps/loop.yaml: symlink loop",
    ]
    for name in ("gone.yaml", "leak.yaml", "leakdir", "loop.yaml"):
        (root / "apps" / name).unlink()
    (root / "apps" / "db").symlink_to(root / "shared")
    (root / "apps" / "self").symlink_to(root / "apps")  # a loop is walked once
    assert located(render(root, ["apps"])) == [
        ("apps/db/db.yaml:1", "db"), ("apps/web.yaml:1", "web")]
    (root / "apps" / "db.yaml").symlink_to(root / "shared" / "db.yaml")
    assert errors_of(root, ["apps"]) == [
        "apps/db.yaml:1: duplicate ConfigMap db (v1), first defined at apps/db/db.yaml:1"]


def test_a_manifest_name_that_is_not_a_file_is_an_error(tmp_path: Path) -> None:
    tree(tmp_path, {"apps/web.yaml": cm("web")})
    os.mkfifo(tmp_path / "apps" / "pipe.yaml")  # reading it would block forever
    assert errors_of(tmp_path, ["apps"]) == ["apps/pipe.yaml: not a file"]
    assert errors_of(tmp_path, ["apps/pipe.yaml"]) == ["apps/pipe.yaml: not a file"]


KUSTOMIZED = {
    "app/kustomization.yaml": "namePrefix: dev-\ncommonLabels: {team: web}\n"
                              "resources: [cm.yaml, deploy.yaml]\n",
    "app/cm.yaml": cm("settings"),
    "app/deploy.yaml": cm("web", api="apps/v1", kind="Deployment"),
    "app/unused.yaml": "never: [read",
    "app/sub/also-unused.yaml": "never: [read",
    "plain.yaml": cm("plain"),
}


def test_a_kustomization_is_built_by_kubectl_and_not_walked(tmp_path: Path, kubectl: str
                                                             ) -> None:
    tree(tmp_path, KUSTOMIZED)
    manifests = render(tmp_path, ["."], kubectl=kubectl)
    assert [(m.location, m.kind, m.name) for m in manifests] == [
        ("app/kustomization.yaml:1", "ConfigMap", "dev-settings"),
        ("app/kustomization.yaml:8", "Deployment", "dev-web"),
        ("plain.yaml:1", "ConfigMap", "plain"),
    ]
    assert manifests[0].obj["metadata"]["labels"] == {"team": "web"}
    # A kustomization file named directly builds its directory.
    direct = render(tmp_path, ["app/kustomization.yaml"], kubectl=kubectl)
    assert [m.obj for m in direct] == [m.obj for m in manifests[:2]]


@pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
def test_every_kustomization_file_name_is_recognised(tmp_path: Path, kubectl: str, name: str
                                                     ) -> None:
    tree(tmp_path, {name: "namePrefix: p-\nresources: [cm.yaml]\n", "cm.yaml": cm("a"),
                    "other.yaml": "not: [read"})
    assert located(render(tmp_path, ["."], kubectl=kubectl)) == [(f"{name}:1", "p-a")]


def test_kustomizations_build_together_and_keep_file_order(tmp_path: Path, kubectl: str
                                                           ) -> None:
    files: dict[str, str] = {}
    for d in ("c", "a", "b"):
        files[f"{d}/kustomization.yaml"] = f"namePrefix: {d}-\nresources: [cm.yaml]\n"
        files[f"{d}/cm.yaml"] = cm("x")
    tree(tmp_path, files)
    assert located(render(tmp_path, ["."], kubectl=kubectl)) == [
        ("a/kustomization.yaml:1", "a-x"), ("b/kustomization.yaml:1", "b-x"),
        ("c/kustomization.yaml:1", "c-x")]


def test_kustomize_output_and_plain_files_share_duplicate_detection(
    tmp_path: Path, kubectl: str
) -> None:
    tree(tmp_path, {"a/kustomization.yaml": "resources: [cm.yaml]\n", "a/cm.yaml": cm("x"),
                    "b.yaml": cm("x")})
    assert errors_of(tmp_path, ["."], kubectl) == [
        "b.yaml:1: duplicate ConfigMap x (v1), first defined at a/kustomization.yaml:1"]


def test_a_broken_kustomization_names_its_directory_in_kubectls_words(
    tmp_path: Path, kubectl: str
) -> None:
    tree(tmp_path, {"apps/bad/kustomization.yaml": "resources: [missing.yaml]\n",
                    "apps/good/kustomization.yaml": "resources: [cm.yaml]\n",
                    "apps/good/cm.yaml": cm("good"),
                    "apps/worse/kustomization.yaml": "resources: [\n"})
    bad, worse = errors_of(tmp_path, ["apps"], kubectl)
    assert bad.startswith("apps/bad/kustomization.yaml: kustomize build of apps/bad failed: ")
    assert "apps/bad/missing.yaml: no such file or directory" in bad
    assert str(tmp_path) not in bad  # paths as the user sees them in the repository
    assert worse.startswith("apps/worse/kustomization.yaml: kustomize build of apps/worse "
                            "failed: ")
    assert "\n" not in bad + worse


def test_a_kustomization_without_kubectl_says_kubectl_is_needed(tmp_path: Path) -> None:
    tree(tmp_path, {"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": cm("a")})
    assert errors_of(tmp_path, ["."]) == [
        "kustomization.yaml: a kustomization: rendering it needs kubectl, and none was given"]
    missing = str(tmp_path / "no-kubectl")
    assert errors_of(tmp_path, ["."], missing) == [
        f"kustomization.yaml: kustomize build of . failed: cannot run {missing}: "
        "No such file or directory"]


def test_a_thousand_objects_render_from_one_read_per_file(tmp_path: Path) -> None:
    tree(tmp_path, {f"apps/{i:03}.yaml": "---\n".join(cm(f"o{i}-{j}", "prod") for j in range(10))
                    for i in range(100)})
    manifests = render(tmp_path, ["."])
    assert len(manifests) == 1000
    assert manifests[11].location == "apps/001.yaml:7"
    assert manifests[-1].name == "o99-9"


def test_a_mistake_in_git_is_a_user_error_and_a_missing_kubectl_is_not(tmp_path: Path) -> None:
    tree(tmp_path, {"bad.yaml": "kind: [\n"})
    with pytest.raises(RenderErrors) as mistake:
        render(tmp_path, ["."])
    assert isinstance(mistake.value, UserError)  # the controller stalls on it
    tree(tmp_path, {"bad.yaml": cm("a"), "kustomization.yaml": "resources: [bad.yaml]\n"})
    with pytest.raises(RenderFailed) as machine:
        render(tmp_path, ["."], kubectl=str(tmp_path / "no-kubectl"))
    assert not isinstance(machine.value, UserError)  # retried: installing kubectl fixes it
