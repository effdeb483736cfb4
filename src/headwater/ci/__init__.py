"""The CI engine, in Concourse's image.

    config/     the pipeline schema (pydantic), YAML positions, validation rules
    vars.py     ((var)) and {{var}} interpolation, redaction of var values
    plan.py     the build plan: the step tree one build runs (stored as JSON)
    resources/  Concourse's check/in/out protocol: built-in types and external scripts
    build/      the engine that runs a plan, and the task executors
    scheduler.py, checker.py   what to build next (pure), and which versions exist
    inputs.py, buildstarter.py  what the scheduler reads of the store, builds started
    runner.py       the loop: schedule, start, run; storedelegate.py stores what runs report
    eventtypes.py   build events, one class per kind (light: the CLI's watch reads them)
    workdirs.py     where builds run: <data dir>/builds/<build id>

The engine reports what happens through a delegate (build/delegate.py); only the
server wires it to the store, so everything here runs and is tested without one.
"""
