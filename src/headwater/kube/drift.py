"""Does a live object still hold what we applied? A pure comparison, no requests.

Only what the desired object says is compared: the API server adds defaults, status
and metadata of its own, and other managers may own other fields. Values compare as
the server stores them: quantities under resources ("500m" and "0.5"; elsewhere text
is text), numbers by value, Secret `stringData` (written into `data`), and empty
values (`[]`, `{}`, `false`, `0`, `""`) the server leaves out. A desired null means
"not ours to care about" (kustomize's `creationTimestamp: null`). Lists compare
element by element: the server does not reorder them.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIX = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity as a number, or None if `value` is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    m = _QUANTITY.match(str(value))
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation:
        return None


# Keys under which the API server canonicalises quantities (resources, quotas, volumes).
_QUANTITY_PARENTS = frozenset({"limits", "requests", "hard", "capacity", "allocatable"})
_QUANTITY_KEYS = frozenset({"storage", "sizeLimit"})


def _holds_quantity(path: str) -> bool:
    parts = path.rsplit(".", 2)
    return parts[-1] in _QUANTITY_KEYS or (len(parts) > 1 and parts[-2] in _QUANTITY_PARENTS)


def _same_scalar(want: object, have: object, path: str) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if want == have and (type(want) is type(have) or not isinstance(want, str | bytes)):
        return True  # 1 == 1.0: JSON numbers
    if _holds_quantity(path):
        q1, q2 = quantity(want), quantity(have)
        return q1 is not None and q1 == q2
    return False


def _empty(value: object) -> bool:
    return value in ([], {}, "", 0)  # False == 0 too


def first_difference(want: Any, have: Any, path: str = "") -> str | None:
    """The path of the first desired value the live object lacks, or None if none."""
    if want is None or (have is None and _empty(want)):  # omitempty: the server drops it
        return None
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return path or "."
        for key, value in want.items():
            if (found := first_difference(value, have.get(key), f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return path
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            if (found := first_difference(w, h, f"{path}[{i}]")) is not None:
                return found
        return None
    return None if _same_scalar(want, have, path) else path


def drifted(desired: dict[str, Any], live: dict[str, Any]) -> str | None:
    """Where `live` departs from `desired` (status aside), or None when it does not.

    apiVersion and kind are not compared: the id matched already, and items of a LIST
    do not carry them."""
    want = {k: v for k, v in desired.items() if k not in ("status", "apiVersion", "kind")}
    if desired.get("kind") == "Secret" and want.get("stringData"):
        data = dict(want.get("data") or {})
        for key, text in want["stringData"].items():
            data[key] = base64.b64encode(str(text).encode()).decode()
        want = {k: v for k, v in want.items() if k != "stringData"} | {"data": data}
    return first_difference(want, live)
