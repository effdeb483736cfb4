"""The differential check against the real `fly validate-pipeline`, when fly is at hand.

fly is never needed by the suite: with a fly binary at ~/.cache/headwater/fly/bin/fly
(or $HEADWATER_FLY), kept outside the repository, this test runs
`hack/fly-diff.py` over the corpus (and $HEADWATER_CONCOURSE_EXAMPLES, a work tree of
concourse/examples, when set): every verdict must agree, or be a deliberate difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FLY = Path(os.environ.get("HEADWATER_FLY",
                          Path.home() / ".cache" / "headwater" / "fly" / "bin" / "fly"))


@pytest.mark.skipif(not FLY.is_file(), reason=f"no fly at {FLY} (set HEADWATER_FLY; "
                                               "never needed by CI)")
def test_every_verdict_agrees_with_fly_or_differs_on_purpose() -> None:
    argv = [sys.executable, str(ROOT / "hack" / "fly-diff.py"), "--fly", str(FLY), "--json"]
    examples = os.environ.get("HEADWATER_CONCOURSE_EXAMPLES")
    argv += ["--examples", examples] if examples else []
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    result = json.loads(done.stdout)
    unexplained = [v for v in result["verdicts"] if not v["agree"] and not v["why"]]
    assert unexplained == [], json.dumps(unexplained, indent=1)
    assert done.returncode == 0, done.stderr
    assert result["total"] >= 100  # the corpus holds 50 files and more
