"""Git working copies and the keys that reach Git servers (the `git` CLI, never a shell)."""
