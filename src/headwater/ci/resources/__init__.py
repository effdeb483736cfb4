"""Resource types: Concourse's check / in / out, built in or as external executables.

    base.py     the ResourceType protocol, Fetched, ResourceError
    types.py    ResourceTypes: which implementation a type name resolves to
    script.py   ScriptResourceType: check / in / out executables in a directory
    time.py     the built-in `time` resource
    process.py  how CI runs a child process (its group killed on cancel)
"""
