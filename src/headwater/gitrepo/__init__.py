"""Git working copies and the keys that reach Git servers (the `git` CLI, never a shell)."""

from headwater.gitrepo.auth import GitAuth
from headwater.gitrepo.checkout import Checkout
from headwater.gitrepo.errors import GitError, GitOutputTooLarge, GitTimeout, redact_url
from headwater.gitrepo.keys import ensure_ed25519
from headwater.gitrepo.run import git

__all__ = ["Checkout", "GitAuth", "GitError", "GitOutputTooLarge", "GitTimeout", "ensure_ed25519",
           "git", "redact_url"]
