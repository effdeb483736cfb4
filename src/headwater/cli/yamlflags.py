"""`--yaml-max-bytes` and `--yaml-max-nodes`: how much YAML a command reads.

Every YAML headwater reads from users, builds or Git goes through `headwater.yamlload`,
which refuses a file over `--yaml-max-bytes` and a document that expands (aliases
counted each time they are used) to more than `--yaml-max-nodes` nodes. The defaults
fit real files; a legitimate giant raises them. The commands that read such YAML
(`server`, `cd`, `validate-pipeline`) take both flags and pass the `Limits` on.
"""

from __future__ import annotations

from typing import Annotated

import typer

from headwater import sizes, yamlload

MaxBytes = Annotated[str, typer.Option(
    "--yaml-max-bytes", metavar="SIZE",
    help="Largest YAML file read (pipelines, vars, task files, manifests): bytes, or "
         "with a unit (512KB, 10MB; 1 KB = 1024 bytes).")]
MaxNodes = Annotated[int, typer.Option(
    "--yaml-max-nodes", min=1, metavar="N",
    help="Most nodes a YAML document may expand to, aliases counted each time they are "
         "used (an alias bomb is refused at its line).")]

DEFAULT_BYTES = "10MiB"
DEFAULT_NODES = yamlload.DEFAULT.max_nodes


def limits(max_bytes: str, max_nodes: int) -> yamlload.Limits:
    try:
        return yamlload.Limits(max_bytes=sizes.parse_size(max_bytes), max_nodes=max_nodes)
    except sizes.SizeError as e:
        raise typer.BadParameter(str(e), param_hint="--yaml-max-bytes") from None
