"""headwater: GitOps continuous delivery — a CI engine and a CD controller in one tool."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("headwater")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
