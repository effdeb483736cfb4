"""Issue 14 point 1: routes call the CI service, never its store. No module of the API
routes or the UI reaches through `ci.store`: the reads they need are `CI` methods."""

from __future__ import annotations

import ast
from pathlib import Path

import headwater.web

WEB = Path(headwater.web.__file__).parent


def store_calls(text: str, name: str) -> list[str]:
    """`name:line` of each `ci.store` in the module's text."""
    return [f"{name}:{node.lineno}" for node in ast.walk(ast.parse(text, filename=name))
            if isinstance(node, ast.Attribute) and node.attr == "store"
            and isinstance(node.value, ast.Name) and node.value.id == "ci"]


def test_no_route_or_page_reads_the_store_directly() -> None:
    files = sorted([*(WEB / "routes").glob("*.py"), *(WEB / "ui").glob("*.py")])
    assert len(files) > 10  # the modules are where this test looks
    assert [hit for f in files for hit in store_calls(f.read_text(), f.name)] == []


def test_the_check_finds_a_store_call() -> None:
    text = ("async def page(ci, store):\n    await store.events(1)\n"
            "    return await ci.store.all_pipelines()\n")
    assert store_calls(text, "views.py") == ["views.py:3"]
