"""Running builds: the engine that walks a plan, and the executors that run tasks.

    engine.py       run_build(plan, ctx=, delegate=) -> final status; the step tree
    context.py      BuildContext: the build's identity, work dir, resource types, executor
    delegate.py     BuildDelegate: where events, outputs and pipelines go (the server)
    state.py        what steps share while a build runs: artifacts, local vars, secrets
    steps/          one module per step type, and the control-flow wrappers
    taskconfig.py   Concourse's task schema
    executor.py     the TaskExecutor protocol and ProcessSpec
    local.py        LocalExecutor: tasks on this host, sandboxed with bubblewrap
    hostview.py     what a task without an image sees of the host (secrets masked)
    taskimage.py    a task's image found (image:, image_resource, rootfs_uri), its user
    ocilayout.py    an OCI image layout in an artifact, read without trusting it
    imagesandbox.py bwrap over an image's root; overlay_helper.py its writable overlay
    taskcaches.py   task caches kept between builds of a job
    scopes.py       abort or timeout: why a step is being cancelled
    interpolate.py  ((.:local)) vars and task file ((vars)) at run time
"""

from headwater.ci.build.context import BuildContext
from headwater.ci.build.delegate import BuildDelegate
from headwater.ci.build.engine import Status, run_build
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import ProcessSpec, TaskExecutor
from headwater.ci.build.local import LocalExecutor

__all__ = ["BuildContext", "BuildDelegate", "LocalExecutor", "ProcessSpec", "Status",
           "StepError", "TaskExecutor", "run_build"]
