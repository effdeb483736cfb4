"""The browser fixtures of the UI tests (Debian's chromium, screenshot directory), for
the story's browser test."""

from tests.web.ui.conftest import artifacts, browser

__all__ = ["artifacts", "browser"]
