"""headwater: GitOps continuous delivery — a CI engine and a CD controller in one tool.

`__version__` is read from the installed package's metadata when first asked for:
`importlib.metadata` costs tens of milliseconds, which every CLI start would pay.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'headwater' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version("headwater")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
