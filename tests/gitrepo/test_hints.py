"""What git's words for an https failure mean: `hint` as a table."""

from __future__ import annotations

import pytest

from headwater.gitrepo.errors import hint


@pytest.mark.parametrize(("stderr", "starts"), [
    ("fatal: could not read Username for 'https://h': terminal prompts disabled",
     "authentication required"),
    ("fatal: could not read Password for 'https://u@h': terminal prompts disabled",
     "authentication required"),
    ("fatal: Authentication failed for 'https://h/r.git/'", "authentication failed"),
    ("fatal: unable to access 'https://h/r.git/': server certificate verification failed. "
     "CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none", "TLS: "),
    ("fatal: repository 'https://h/r.git/' not found", None),
    ("Permission denied (publickey).", None),
])
def test_https_failures_get_a_meaning(stderr: str, starts: str | None) -> None:
    meaning = hint(stderr)
    if starts is None:
        assert meaning is None
    else:
        assert meaning is not None and meaning.startswith(starts)
