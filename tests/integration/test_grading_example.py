"""The custom-policy example runs as a script and prints its grades."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_policy.py"


def test_custom_policy_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], check=True, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines() == [
        "c-1: VIP      average order 1200.00 >= 1000",
        "c-2: regular  average order 300.00 < 1000",
        "c-3: regular  average order 0 < 1000",
        # stored with registry.grading.regrade: a first grade, then regular -> VIP an upgrade
        "regrade: [(None, 'regular', 'new')]",
        "regrade: [('regular', 'VIP', 'up')]",
    ]
