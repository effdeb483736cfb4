"""How one git resource operation reaches its remote: key files, host keys, config.

A private key from the source is written to a 0600 file in a 0700 directory made
for this one operation and removed after it, whatever happens. A key with a
passphrase is decrypted in place by `ssh-keygen -p`, which asks for the passphrase
through SSH_ASKPASS (a two-line script in the same directory printing a variable
of its own environment): neither the key nor the passphrase is ever in an argv
(`ps`) or in a file outside that directory. The key is then checked with
`ssh-keygen -y`, so a bad key is reported as such, not as ssh's "Permission denied".

Host keys: `source.known_hosts` (headwater's addition) is the only list trusted
when given (StrictHostKeyChecking=yes). Without it git-resource accepts any host key
(`StrictHostKeyChecking no`); headwater instead learns the key on first use and
keeps it (`learned_hosts`, next to the check's cache), refusing a changed key later.

`git_config` and headwater's defaults (a committer identity for merges, rebases and
annotated tags) reach git through GIT_CONFIG_COUNT/KEY/VALUE, after and so over the
credentials' own settings from `GitAuth.env`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.gitsource import GitSource
from headwater.gitrepo import GitAuth
from headwater.gitrepo.errors import redact, redact_url

KEYGEN_TIMEOUT = 30.0
IDENTITY = (("user.name", "headwater"), ("user.email", "headwater@localhost"))
_ASKPASS = '#!/bin/sh\nprintf "%s\\n" "$HW_GIT_KEY_PASSPHRASE"\n'


@dataclass(frozen=True)
class Access:
    """What a git command needs to reach the source's remote, and what to hide."""

    uri: str
    env: dict[str, str]
    secrets: tuple[str, ...]

    def where(self) -> str:
        """The remote as shown in messages: its URL without credentials."""
        return redact(redact_url(self.uri), self.secrets)


def config_env(base: dict[str, str], entries: Sequence[tuple[str, str]]) -> dict[str, str]:
    """`base` (which may already hold GIT_CONFIG_COUNT settings) plus `entries`."""
    env = dict(base)
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    for key, value in entries:
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    if count:
        env["GIT_CONFIG_COUNT"] = str(count)
    return env


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


async def _keygen(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ssh-keygen", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), KEYGEN_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, err.decode(errors="replace").strip()


async def _prepare_key(directory: Path, src: GitSource) -> Path:
    key = directory / "id"
    text = src.private_key.strip() + "\n"
    await asyncio.to_thread(_write_private, key, text)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)}
    if src.private_key_passphrase:
        askpass = directory / "askpass"
        await asyncio.to_thread(_write_private, askpass, _ASKPASS, 0o700)
        env = {**base, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
               "DISPLAY": "none", "HW_GIT_KEY_PASSPHRASE": src.private_key_passphrase}
        code, err = await _keygen("-p", "-q", "-N", "", "-f", str(key), env=env)
        if code != 0:
            raise ResourceError(
                "git resource: source.private_key could not be decrypted with "
                "source.private_key_passphrase (wrong passphrase, or not a private key): "
                f"{_keygen_words(err, src)}")
    env = {**base, "SSH_ASKPASS_REQUIRE": "never"}
    code, err = await _keygen("-y", "-f", str(key), env=env)
    if code != 0:
        hint = "" if src.private_key_passphrase else \
            " (if it is protected by a passphrase, set source.private_key_passphrase)"
        raise ResourceError(
            "git resource: source.private_key is not a usable private key: "
            f"{_keygen_words(err, src)}{hint}")
    return key


def _keygen_words(err: str, src: GitSource) -> str:
    words = redact(err, src.secrets()).replace("\n", " ")
    return words[-300:] or "ssh-keygen refused it"


def _access(src: GitSource, auth: GitAuth, learned_hosts: Path | None,
            config: Sequence[tuple[str, str]]) -> Access:
    env = auth.env(src.uri, learned_hosts=learned_hosts)
    if src.skip_ssl_verification:
        env["GIT_SSL_NO_VERIFY"] = "true"
    env = config_env(env, [*IDENTITY, *src.git_config, *config])
    return Access(uri=src.uri, env=env, secrets=(*auth.secrets(src.uri), *src.secrets()))


@contextlib.asynccontextmanager
async def access(src: GitSource, *, learned_hosts: Path | None = None,
                 scratch: Path | None = None,
                 config: Sequence[tuple[str, str]] = ()) -> AsyncIterator[Access]:
    """Credentials of `src` for one operation; the files they need live until exit."""
    if not (src.private_key or src.known_hosts):  # no file to write
        yield _access(src, GitAuth(username=src.username or None,
                                   password=src.password or None,
                                   skip_tls_verify=src.skip_ssl_verification),
                      learned_hosts, config)
        return
    directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hw-git-",
                                             dir=scratch))
    try:
        key = await _prepare_key(directory, src) if src.private_key else None
        known = None
        if src.known_hosts:
            known = directory / "known_hosts"
            await asyncio.to_thread(_write_private, known, src.known_hosts.strip() + "\n")
        elif learned_hosts is None:
            learned_hosts = directory / "learned_hosts"
        auth = GitAuth(ssh_key=key, known_hosts=known,
                       username=src.username or None, password=src.password or None,
                       skip_tls_verify=src.skip_ssl_verification)
        yield _access(src, auth, learned_hosts, config)
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)
