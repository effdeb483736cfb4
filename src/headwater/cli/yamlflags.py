"""`--yaml-max-bytes` and `--yaml-max-nodes`: how much YAML a command reads.

Every YAML headwater reads from users, builds or Git goes through `headwater.yamlload`,
which refuses a file over `--yaml-max-bytes` and a document that expands (aliases
counted each time they are used) to more than `--yaml-max-nodes` nodes. The defaults
fit real files; a legitimate giant raises them. The commands that read such YAML
(`server`, `cd`, `validate-pipeline`) take both flags and pass the `Limits` on.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from headwater import yamlload

_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_SIZE = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")

MaxBytes = Annotated[str, typer.Option(
    "--yaml-max-bytes", metavar="SIZE",
    help="Largest YAML file read (pipelines, vars, task files, manifests): bytes, or "
         "with a unit (KiB, MiB, GiB).")]
MaxNodes = Annotated[int, typer.Option(
    "--yaml-max-nodes", min=1, metavar="N",
    help="Most nodes a YAML document may expand to, aliases counted each time they are "
         "used (an alias bomb is refused at its line).")]

DEFAULT_BYTES = "10MiB"
DEFAULT_NODES = yamlload.DEFAULT.max_nodes


def parse_size(text: str) -> int:
    """`10MiB` -> 10485760; a plain number is bytes."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS:
        raise typer.BadParameter(f"{text!r} is not a size: write bytes (1048576) or a "
                                 "number with a unit (512KiB, 10MiB, 1GiB)")
    return int(m.group(1)) * _UNITS[unit]


def limits(max_bytes: str, max_nodes: int) -> yamlload.Limits:
    return yamlload.Limits(max_bytes=parse_size(max_bytes), max_nodes=max_nodes)
