"""What goes wrong at the Git edge, said without leaking credentials.

A failed git command becomes a `GitError` whose message names the operation, the
remote URL with its password or token replaced by `***`, and the last lines of git's
own stderr. Every string that may hold a secret (argv, stderr, the URL) is passed
through `redact` before it is stored on the exception, so logging an error is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from headwater.errors import HeadwaterError

MASK = "***"


class GitError(HeadwaterError):
    """A git command failed; `command` (redacted argv) and `stderr` (its tail) say how."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        stderr: str = "",
        returncode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command = list(command)
        self.stderr = stderr
        self.returncode = returncode


class GitTimeout(GitError):
    """A git command ran past its deadline and was killed (with its children)."""


class GitOutputTooLarge(GitError):
    """A git command wrote more than its caller's bound and was killed (with its children)."""


def redact_url(url: str) -> str:
    """`url` with the password (and an https username, where tokens go) as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, _password = userinfo.partition(":")
    if sep:
        userinfo = f"{user}:{MASK}"
    elif parts.scheme in ("http", "https"):
        userinfo = MASK
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials written into `url` itself, the strings `redact_url` hides."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    if not parts.scheme or "@" not in parts.netloc:
        return ()
    userinfo = parts.netloc.rpartition("@")[0]
    user, sep, password = userinfo.partition(":")
    secret = password if sep else user if parts.scheme in ("http", "https") else ""
    # git may print the percent-decoded form as well as the one written in the URL.
    return (secret, unquote(secret)) if secret else ()


# git's own words for an https failure -> what it means and what to do.
_HINTS = (
    # "could not read Username (or Password) for '...': terminal prompts disabled"
    ("terminal prompts disabled", "authentication required: the server asked for "
     "credentials and none were given (give a token, or a username and password)"),
    ("Authentication failed for", "authentication failed: the server refused the "
     "credentials (check the token, or the username and password)"),
    ("server certificate verification failed", "TLS: the server's certificate is not "
     "signed by a trusted CA (give the CA certificate that signed it)"),
)


def hint(stderr: str) -> str | None:
    """What an https failure in git's `stderr` means, in words a person can act on."""
    return next((meaning for words, meaning in _HINTS if words in stderr), None)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each non-empty secret replaced by `***`."""
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
