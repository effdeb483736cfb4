"""The stack refuses early, naming the package or the option that fixes the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.devstack import Options, sysdeps
from headwater.devstack.errors import MissingPackage, NotRoot
from headwater.devstack.stack import preflight


def test_a_missing_program_names_its_package_and_the_install_command() -> None:
    missing = sysdeps.missing({"git": "git", "hw-no-such-program": "hw-pkg"})
    assert missing == {"hw-no-such-program": "hw-pkg"}
    message = str(MissingPackage(missing))
    assert "hw-no-such-program (Debian package hw-pkg)" in message
    assert "apt-get install -y hw-pkg" in message
    assert "hack/setup.sh" in message


def test_the_node_needs_root_and_the_error_offers_the_alternatives() -> None:
    with pytest.raises(NotRoot) as e:
        preflight(Options(), euid=1000)
    assert "--no-node" in str(e.value)
    assert "--kubeconfig" in str(e.value)


@pytest.mark.parametrize("opts", [Options(node=False), Options(cluster=False)])
def test_without_a_node_root_is_not_needed(opts: Options) -> None:
    preflight(opts, euid=1000)


def test_a_users_cluster_needs_no_root() -> None:
    preflight(Options(kubeconfig=Path("/dev/null")), euid=1000)


def test_this_machine_has_every_package_the_stack_needs() -> None:
    # hack/setup.sh installs them; this fails loudly if the list and the script drift.
    assert sysdeps.missing_packages() == []
