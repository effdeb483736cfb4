"""Rich consoles made on first use.

Importing rich costs tens of milliseconds that `--help`, `--version` and shell
completion do not need: the verb modules hold a `LazyConsole`, which makes its
`rich.console.Console` (with the same options) the first time something is printed.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    def __init__(self, **options: Any) -> None:
        self._options = options

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(**self._options)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.console.print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal
