"""Resource types: Concourse's check / in / out, built in or as external executables.

    base.py     the ResourceType protocol, Fetched, ResourceError
    types.py    ResourceTypes: which implementation a type name resolves to
    script.py   ScriptResourceType: check / in / out executables in a directory
    time.py     the built-in `time` resource
    semver.py   the built-in `semver` resource (semverbump.py: versions and bumps;
                semvergit.py, semverfile.py: where the version is kept)
    process.py  how CI runs a child process (its group killed on cancel)
"""
