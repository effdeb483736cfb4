"""Two stacks run side by side; `up` twice starts nothing; `down` stops exactly what
`up` started and leaves nothing behind outside the state directory."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from headwater import devstack
from headwater.devstack import node, process

POD = """apiVersion: v1
kind: Pod
metadata: {{name: sleeper, namespace: default}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{{name: c, image: "{image}"}}]
"""


def _kubectl(info: devstack.StackInfo, *args: str, stdin: str | None = None) -> str:
    assert info.kubectl and info.kubeconfig
    r = subprocess.run([info.kubectl, "--kubeconfig", info.kubeconfig, *args], input=stdin,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def _link_exists(name: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", name], capture_output=True, check=False)
    return shown.returncode == 0


def test_a_second_stack_runs_beside_the_first_and_down_leaves_nothing_behind(
    stack: devstack.StackInfo,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="hwt2-", dir="/tmp"))
    try:
        second = devstack.up(state, devstack.Options())
        assert second.bridge != stack.bridge and second.subnet != stack.subnet
        assert set(second.ports.values()).isdisjoint(stack.ports.values())
        assert node.socket(second.layout) != node.socket(stack.layout)
        assert all(c.healthy for c in devstack.check(second))
        with pytest.raises(devstack.AlreadyUp):
            devstack.up(state, devstack.Options())

        # A running pod gives `down` containers, shims, a netns and mounts to clean up.
        image = f"{second.registry.host}/{node.PAUSE_REPOSITORY}:{node.PAUSE_TAG}"
        _kubectl(second, "apply", "-f", "-", stdin=POD.format(image=image))
        _kubectl(second, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=90s")
        netns = list((state / "containerd" / "state").rglob("cni-*"))
        assert netns, "the pod's network namespace lives under the stack's directory"
        procs = [process.load(c, second.layout) for c in second.components]
        assert all(p and process.is_alive(p) for p in procs)
        assert node._shims(second.layout)

        devstack.down(state)
        assert not any(p and process.is_alive(p) for p in procs)
        assert not node._shims(second.layout)
        assert second.bridge and not _link_exists(second.bridge)
        assert node._mounts_under(state) == []
        assert all(c.healthy for c in devstack.check(stack)), "the first stack was disturbed"

        again = devstack.up(state, devstack.Options())  # warm: same ports, same certificates
        assert again.ports == second.ports
        assert _kubectl(again, "get", "nodes", "-o", "name").strip() == "node/localhost"
    finally:
        devstack.down(state, purge=True)
    assert not state.exists()
