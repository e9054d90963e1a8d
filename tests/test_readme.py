"""The Python blocks of README.md run, in order, as a reader would paste them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def run_readme(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::UserWarning", str(script)],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_readme_python_blocks_run_in_order_and_again(tmp_path: Path) -> None:
    """A reader pastes the blocks, then runs them a second time in the same directory: the
    second run opens the same store with the same key file and finds the customer it made."""
    blocks = python_blocks()
    assert len(blocks) >= 2
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    for _ in range(2):
        result = run_readme(script)
        assert result.returncode == 0, result.stderr
        assert "('stage', 'lead', 'active')" in result.stdout
    assert (tmp_path / "quickstart.keys.sqlite").exists()  # the data keys live apart
    assert (tmp_path / "quickstart.keys.json").stat().st_mode & 0o777 == 0o600


def test_every_python_looking_fence_of_readme_is_run() -> None:
    fences = re.findall(r"^```(\S*)$", README.read_text(encoding="utf-8"), re.M)
    assert not {lang for lang in fences if lang in {"py", "pycon", "python3"}}
