"""No file walk, manifest read or subprocess.run straight on the event loop in cd/.

The controller, the API and the CI share one loop: a verb or a sync that reads a
repository's files (or runs `kubectl kustomize`) inline stalls all of them. Such work
goes through `asyncio.to_thread` (or an asyncio subprocess); a sync closure handed to
a thread (`edit` for `Checkout.commit_and_push`, a lambda) may do it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import headwater

SRC = Path(headwater.__file__).parent
# Blocking helpers of ours and of the standard library, by the name they are called with.
BLOCKING = {
    "render", "find", "all_workloads", "manifest_files", "automated", "plan_setters",
    "read_workloads", "load_file", "load_image_policies", "apply_releases",
    "edit",  # the file edit handed to Checkout.commit_and_push
    "read_text", "write_text", "read_bytes", "rglob",
    "os.walk", "subprocess.run", "subprocess.check_output", "subprocess.call",
}


def _inline_calls(fn: ast.AsyncFunctionDef) -> list[tuple[int, str]]:
    """Calls in `fn`'s own body, not awaited (a coroutine yields) and not inside a nested
    def or lambda (those run elsewhere): `name`, or `module.name` for a module's."""
    found: list[tuple[int, str]] = []
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            todo.extend([*node.value.args, *(k.value for k in node.value.keywords)])
            continue
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                found.append((node.lineno, f.id))
            elif isinstance(f, ast.Attribute):
                module = f"{f.value.id}." if isinstance(f.value, ast.Name) and f.value.id in (
                    "os", "subprocess") else ""
                found.append((node.lineno, module + f.attr))
        todo.extend(ast.iter_child_nodes(node))
    return found


def _offenders(source: str) -> list[tuple[int, str]]:
    return sorted((line, name) for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.AsyncFunctionDef)
                  for line, name in _inline_calls(node) if name in BLOCKING)


def test_cd_and_the_checkout_never_block_the_loop_with_files_or_processes() -> None:
    files = [*sorted((SRC / "cd").glob("*.py")), SRC / "gitrepo" / "checkout.py"]
    offenders = [f"{path.relative_to(SRC.parent)}:{line} {name}()"
                 for path in files for line, name in _offenders(path.read_text())]
    assert offenders == [], "wrap these in asyncio.to_thread: " + ", ".join(offenders)


def test_the_scan_sees_inline_calls_and_lets_threaded_ones_pass() -> None:
    source = '''
async def bad(root):
    loc = find(root, ["."], "w")
    text = (root / "f").read_text()

async def good(root, checkout):
    loc = await asyncio.to_thread(find, root, ["."], "w")
    def edit(r):
        return [(r / "f").write_text("x")]
    await checkout.commit_and_push(edit)
    await asyncio.to_thread(lambda: manifest_files(root, ["."]))
    await loop.run()

async def worse(kubectl):
    subprocess.run([kubectl, "kustomize", "."])
'''
    assert _offenders(source) == [(3, "find"), (4, "read_text"), (15, "subprocess.run")]
