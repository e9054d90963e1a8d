"""README's main-job command works as written: it migrates the bundled sample, twice."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def main_job_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert lines[0].startswith("python3 -m venv .venv")  # the set-up line
    return lines[1:]


def test_readme_main_job_runs_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bindir = str(Path(sys.executable).parent)
    commands = [line.replace(".venv/bin", bindir) for line in main_job_lines()]
    for run in (1, 2):
        for command in commands:
            result = subprocess.run(
                command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, (run, result.stdout, result.stderr)
        report = json.loads((tmp_path / "import-report.json").read_text(encoding="utf-8"))
        counts = report["counts"]
        if run == 1:
            assert counts["created"] > 0 and counts["rejected"] > 0
            first = counts
        else:
            assert counts["created"] == 0
            assert counts["already_applied"] == first["created"]
    assert (tmp_path / "customers.sqlite").exists()
    assert (tmp_path / "import-report.errors.csv").exists()
