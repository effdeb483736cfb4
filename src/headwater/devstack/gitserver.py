"""The stack's Git server: `git daemon` (anonymous, read-only) and `sshd` with deploy keys.

Anonymous git:// only serves fetches and clones: any process of the machine, and any
task with network, can reach loopback, so writes need a key. Pushes go over ssh with
the deploy key (`ssh_url`, `ssh_command`). sshd runs on its own port and config. Each
authorized key is forced through `python -m headwater.devstack.gitshell`, which allows
only git's transport commands on repositories under the base directory, and refuses
pushes for the read-only key, before handing over to `git-shell`.
"""

from __future__ import annotations

import functools
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from headwater.devstack import gitshell, hooks, process
from headwater.devstack.layout import Layout
from headwater.devstack.ports import accepts
from headwater.gitrepo.keys import ensure_ed25519


@dataclass(frozen=True)
class GitServer:
    repos: Path
    daemon_port: int
    ssh_port: int
    deploy_key: Path
    readonly_key: Path
    known_hosts: Path
    user: str

    def git_url(self, repo: str) -> str:
        """Anonymous and read-only: clone and fetch, never push."""
        return f"git://127.0.0.1:{self.daemon_port}/{repo}"

    def ssh_url(self, repo: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.ssh_port}/{repo}"

    def ssh_command(self, key: Path | None = None) -> str:
        """A GIT_SSH_COMMAND value that uses `key` (the deploy key by default)."""
        return shlex.join([
            "ssh", "-i", str(key or self.deploy_key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
        ])


def _dirs(layout: Layout) -> tuple[Path, Path]:
    return layout.sub("git"), layout.sub("git", "repos")


def prepare(layout: Layout, *, daemon_port: int, ssh_port: int, user: str) -> GitServer:
    base, repos = _dirs(layout)
    repos.mkdir(parents=True, exist_ok=True)
    host_key = base / "ssh_host_ed25519_key"
    host_pub = ensure_ed25519(host_key, "headwater-git-host")
    deploy_pub = ensure_ed25519(base / "deploy_key", "headwater-deploy")
    readonly_pub = ensure_ed25519(base / "readonly_key", "headwater-readonly")

    def forced(mode: str) -> str:
        # The file, isolated and without site-packages (it is stdlib only): `-m` would
        # import the headwater package on every ssh connection, ~0.25 s of CPU each.
        cmd = shlex.join([sys.executable, "-IS", str(Path(gitshell.__file__ or "").resolve()),
                          mode, str(repos)])
        return f'restrict,command="{cmd}"'

    (base / "authorized_keys").write_text(
        f"{forced('rw')} {deploy_pub}\n{forced('ro')} {readonly_pub}\n"
    )
    key_type, key_data = host_pub.split()[:2]
    (base / "known_hosts").write_text(f"[127.0.0.1]:{ssh_port} {key_type} {key_data}\n")
    (base / "sshd_config").write_text(
        "\n".join([
            f"Port {ssh_port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {base / 'authorized_keys'}",
            f"PidFile {layout.run / 'sshd.own.pid'}",
            f"AllowUsers {user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            "",
        ])
    )
    return GitServer(
        repos=repos, daemon_port=daemon_port, ssh_port=ssh_port,
        deploy_key=base / "deploy_key", readonly_key=base / "readonly_key",
        known_hosts=base / "known_hosts", user=user,
    )


def start(layout: Layout, server: GitServer) -> list[process.Proc]:
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    base, _ = _dirs(layout)
    daemon = process.start("git-daemon", [
        "git", "daemon", f"--base-path={server.repos}", "--export-all",
        "--reuseaddr", "--informative-errors",  # no receive-pack: pushes go over ssh
        "--listen=127.0.0.1", f"--port={server.daemon_port}", str(server.repos),
    ], layout=layout)
    sshd = process.start(
        "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(base / "sshd_config")], layout=layout
    )
    for proc, port in ((daemon, server.daemon_port), (sshd, server.ssh_port)):
        process.wait_until(proc, functools.partial(accepts, port), what="listening",
                           timeout=10)
    return [daemon, sshd]


def create_repo(server: GitServer, name: str, *, branch: str = "main") -> Path:
    """A new bare repository `name` (e.g. "app.git") served by both daemons (pushed to
    over ssh only), whose post-receive hook tells headwater of each push (hooks.py)."""
    path = server.repos / name
    subprocess.run(
        ["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)],
        check=True,
    )
    hooks.install_post_receive(path, server.repos.parent.parent)
    return path
