"""docs/security.md names, for every rule, the test that performs the attack: each one
it names must exist, so the threat model cannot point at a test that was renamed away."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
_REF = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def test_every_test_the_threat_model_names_exists() -> None:
    refs = _REF.findall((ROOT / "docs" / "security.md").read_text())
    assert len(refs) > 20
    for path, name in refs:
        source = ROOT / path
        assert source.is_file(), f"docs/security.md names {path}, which does not exist"
        if name:
            assert re.search(rf"def {name}\(", source.read_text()), \
                f"docs/security.md names {path}::{name}, which does not exist"
