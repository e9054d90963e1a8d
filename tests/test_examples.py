"""Every example in examples/ runs to completion.

An example is a script (``examples/*.py``) or a directory run as one (``examples/*/__main__.py``,
as ``python examples/django_app``). The web-framework examples exercise themselves through their
framework's test client and need the framework installed (the ``examples`` dependency group):
without it they skip, naming what is missing, except under CI (``CI`` set to anything but an
explicit "no"), where a missing framework fails.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parents[1] / "examples"
EXAMPLES = sorted([*HERE.glob("*.py"), *(main.parent for main in HERE.glob("*/__main__.py"))])

# What an example imports beyond custrec's own dependencies.
NEEDS: dict[str, tuple[str, ...]] = {
    "fastapi_app": ("fastapi", "httpx"),
    "flask_app.py": ("flask",),
    "django_app": ("django",),
}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require(modules: tuple[str, ...]) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (pip install {' '.join(missing)})"
    if under_ci():
        pytest.fail(f"{message}; under CI every example must run", pytrace=False)
    pytest.skip(message)


def test_the_framework_examples_are_found() -> None:
    assert {p.name for p in EXAMPLES} >= set(NEEDS)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    require(NEEDS.get(example.name, ()))
    result = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    if example.name in NEEDS:  # the web examples keep their database and keys in a temp dir
        assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_framework_skips_except_under_ci(
    ci: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="needs custrec_no_such_framework"):
        require(("custrec", "custrec_no_such_framework"))
