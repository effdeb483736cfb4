"""The webhook secrets: a file of `name=secret` lines, never a flag's value.

A secret on the command line shows in `ps` and shell history, so the server takes a
file (`--webhook-secrets FILE`, or `HEADWATER_WEBHOOK_SECRETS=FILE`): one hook per line,
`name=secret`, `#` comments. Each forge hook gets its own secret and name; the name
is what logs say matched (never the secret). The local stack's own secret (its git
server's post-receive hook and its registry's notifications) joins them as `stack`
when the server runs with `--stack`. Errors name the file and line, never a value.
"""

from __future__ import annotations

import re
from pathlib import Path

from headwater.errors import UserError

MIN_LENGTH = 16
MAX_SECRETS = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class SecretsError(UserError):
    """A bad secrets file; the message names the file and the line."""


def parse_secrets(text: str, *, where: str) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, secret = line.partition("=")
        name, secret = name.strip(), secret.strip()
        at = f"{where}:{number}"
        if not eq or not _NAME.match(name):
            raise SecretsError(f"{at}: expected name=secret, the name letters, digits, "
                               "'_', '.' or '-'")
        if len(secret) < MIN_LENGTH:
            raise SecretsError(f"{at}: the secret of {name!r} is shorter than {MIN_LENGTH} "
                               "characters; make one with `openssl rand -hex 32`")
        if name in secrets:
            raise SecretsError(f"{at}: {name!r} is defined twice")
        secrets[name] = secret
    if len(secrets) > MAX_SECRETS:
        raise SecretsError(f"{where}: more than {MAX_SECRETS} secrets")
    return secrets


def load_secrets(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as e:
        raise SecretsError(f"webhook secrets file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SecretsError(f"webhook secrets file {path}: not UTF-8 text") from None
    return parse_secrets(text, where=str(path))
