"""The steps of a build, one module per step type (Concourse's `atc/exec`).

Every step has one entry point, `async def run(self, state) -> bool`: True when the
user's work succeeded, False when it failed; errors and cancellation are exceptions
(see errors.py). Leaf steps (get, put, task, load_var, set_pipeline) do the work
and report it through `state`; control flow (do, try, timeout, attempts,
in_parallel, hooks) is a wrapper of a few lines around other steps.
"""
