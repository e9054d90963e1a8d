"""What the built packages hold: the sdist and the wheel that hatchling builds from this tree.

Both are built once per session (a few seconds, no network: hatchling is in the ``test``
dependency group and runs in this interpreter), then their member lists and metadata are read.
"""

from __future__ import annotations

import email.message
import email.parser
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import custrec

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# What an sdist may hold at its top level; everything else (.ci, .venv, caches, built docs...)
# stays out. hatchling always adds the .gitignore and PKG-INFO.
SDIST_TOP_LEVEL = {
    "src",
    "tests",
    "docs",
    "examples",
    "benchmarks",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "pyproject.toml",
    "PKG-INFO",
    ".gitignore",
}

_BUILD = """
import sys
import hatchling.build as backend
out = sys.argv[1]
print(backend.build_sdist(out) if sys.argv[2] == "sdist" else backend.build_wheel(out))
"""


def build(kind: str, source: Path, out: Path) -> Path:
    """Build ``kind`` ("sdist" or "wheel") of the project in ``source`` through hatchling's
    PEP 517 hooks, in a child process (the hooks read the current directory)."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out), kind],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip().splitlines()[-1]


class Built:
    """An sdist and a wheel, with their members' names (relative to the sdist's root)."""

    def __init__(self, sdist: Path, wheel: Path) -> None:
        self.sdist = sdist
        self.wheel = wheel
        with tarfile.open(sdist) as archive:
            names = [m.name for m in archive.getmembers() if m.isfile()]
            self.root = names[0].split("/")[0]
            self.sdist_members = {name.split("/", 1)[1] for name in names}
            pkg_info = archive.extractfile(f"{self.root}/PKG-INFO")
            assert pkg_info is not None
            self.pkg_info = parse_metadata(pkg_info.read())
        with zipfile.ZipFile(wheel) as archive:
            self.wheel_members = set(archive.namelist())
            self.dist_info = next(
                n.split("/")[0] for n in self.wheel_members if n.endswith(".dist-info/METADATA")
            )
            self.metadata = parse_metadata(archive.read(f"{self.dist_info}/METADATA"))
            self.entry_points = archive.read(f"{self.dist_info}/entry_points.txt").decode()
            self.wheel_licence = archive.read(f"{self.dist_info}/licenses/LICENSE")


def parse_metadata(raw: bytes) -> email.message.Message:
    return email.parser.BytesParser().parsebytes(raw)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    return Built(build("sdist", ROOT, out), build("wheel", ROOT, out))


@pytest.fixture(scope="module")
def wheel_from_sdist(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the unpacked sdist, as installers build one."""
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(built.sdist) as archive:
        archive.extractall(unpacked, filter="data")
    out = tmp_path_factory.mktemp("from_sdist")
    return build("wheel", unpacked / built.root, out)


def shipped_sources(*folders: str, pattern: str = "*.py") -> Iterator[str]:
    """The files of this tree that must be in the sdist, relative to its root."""
    for folder in folders:
        for path in (ROOT / folder).rglob(pattern):
            if "__pycache__" not in path.parts and "_build" not in path.parts:
                yield path.relative_to(ROOT).as_posix()


# --- licence ---------------------------------------------------------------------------------


def test_the_licence_is_mit_for_the_custrec_developers() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 custrec developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert PYPROJECT["project"]["license"] == "MIT"


def test_both_packages_ship_the_licence(built: Built) -> None:
    assert "LICENSE" in built.sdist_members
    assert built.wheel_licence == (ROOT / "LICENSE").read_bytes()
    for metadata in (built.metadata, built.pkg_info):
        assert metadata["License-Expression"] == "MIT"
        assert metadata.get_all("License-File") == ["LICENSE"]


def test_no_licence_classifier_contradicts_the_expression(built: Built) -> None:
    # PEP 639: with License-Expression, "License ::" classifiers are deprecated and rejected.
    classifiers = built.metadata.get_all("Classifier") or []
    assert not [c for c in classifiers if c.startswith("License ::")]


# --- what each package holds -----------------------------------------------------------------


def test_the_sdist_holds_sources_tests_docs_examples_and_project_files(built: Built) -> None:
    wanted = {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "PKG-INFO"}
    wanted |= set(shipped_sources("src", "tests", "examples", "benchmarks"))
    wanted |= set(shipped_sources("docs", pattern="*.md"))
    wanted |= {"src/custrec/py.typed", "tests/test_packaging.py", "tests/unit/test_lazy_imports.py"}
    assert wanted - built.sdist_members == set()


def test_the_sdist_leaves_out_ci_caches_results_and_built_docs(built: Built) -> None:
    top_level = {name.split("/")[0] for name in built.sdist_members}
    assert top_level <= SDIST_TOP_LEVEL, top_level - SDIST_TOP_LEVEL
    assert not [n for n in built.sdist_members if n.startswith(".ci/")]
    assert "benchmarks/results.json" not in built.sdist_members
    assert not [n for n in built.sdist_members if n.startswith("docs/_build/")]
    assert not [n for n in built.sdist_members if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_holds_the_typed_package_and_nothing_else(built: Built) -> None:
    package = {n for n in built.wheel_members if not n.startswith(built.dist_info + "/")}
    expected = {name.removeprefix("src/") for name in shipped_sources("src")}
    assert expected - package == set()
    assert "custrec/py.typed" in package
    assert {n.split("/")[0] for n in package} == {"custrec"}
    assert not [n for n in package if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_installs_the_command(built: Built) -> None:
    assert re.search(r"^custrec = custrec\.cli:main$", built.entry_points, re.MULTILINE)


def test_a_wheel_built_from_the_sdist_equals_the_one_built_from_the_tree(
    built: Built, wheel_from_sdist: Path
) -> None:
    with zipfile.ZipFile(wheel_from_sdist) as archive:
        members = set(archive.namelist())
        licence = archive.read(f"{built.dist_info}/licenses/LICENSE")
    assert members == built.wheel_members
    assert licence == built.wheel_licence


# --- metadata --------------------------------------------------------------------------------


def test_the_project_urls_point_at_the_repository_and_the_docs(built: Built) -> None:
    urls = dict(entry.split(", ", 1) for entry in built.metadata.get_all("Project-URL") or [])
    assert urls == {
        "Documentation": "https://custrec.readthedocs.io",
        "Changelog": "https://github.com/custrec/custrec/blob/main/CHANGELOG.md",
        "Source": "https://github.com/custrec/custrec",
        "Issues": "https://github.com/custrec/custrec/issues",
    }


def test_the_classifiers_name_each_supported_python(built: Built) -> None:
    classifiers = set(built.metadata.get_all("Classifier") or [])
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert versions == {"3.11", "3.12", "3.13"}
    requires_python = SpecifierSet(built.metadata["Requires-Python"])
    assert all(f"{v}.0" in requires_python for v in versions)
    assert "3.10.0" not in requires_python
    assert {
        "Programming Language :: Python :: 3 :: Only",
        "Typing :: Typed",
        "Operating System :: POSIX",
    } <= classifiers
    assert [c for c in classifiers if c.startswith("Topic ::")]


def test_the_version_is_written_once_and_every_package_carries_it(built: Built) -> None:
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/custrec/__init__.py"
    assert built.metadata["Version"] == custrec.__version__
    assert built.pkg_info["Version"] == custrec.__version__
    assert built.wheel.name.startswith(f"custrec-{custrec.__version__}-")


def test_no_second_copy_of_the_version_is_written_anywhere() -> None:
    # Release notes name versions; everything else reads custrec.__version__.
    literal = custrec.__version__
    holders = [
        path.relative_to(ROOT).as_posix()
        for folder in ("src", "tests", "docs", "examples", "benchmarks")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".md", ".toml", ".cfg", ".txt", ".json", ".rst"}
        and "_build" not in path.parts
        and literal in path.read_text(encoding="utf-8", errors="replace")
    ]
    for name in ("README.md", "pyproject.toml"):
        if literal in (ROOT / name).read_text(encoding="utf-8"):
            holders.append(name)
    assert holders == ["src/custrec/__init__.py"]


def test_the_installed_distribution_reports_the_same_version() -> None:
    from importlib.metadata import version

    assert version("custrec") == custrec.__version__


# --- dependencies ----------------------------------------------------------------------------


def requirements(metadata: email.message.Message) -> dict[str, list[Requirement]]:
    """Requires-Dist by extra ("" for the core dependencies)."""
    found: dict[str, list[Requirement]] = {}
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        marker = str(requirement.marker or "")
        extra = re.search(r"extra == ['\"]([\w-]+)['\"]", marker)
        found.setdefault(extra.group(1) if extra else "", []).append(requirement)
    return found


def test_the_extras_are_the_user_facing_ones(built: Built) -> None:
    extras = set(built.metadata.get_all("Provides-Extra") or [])
    assert extras == {"postgres", "testing", "fuzzy", "numeric", "dataframe"}


def test_the_postgres_extra_leaves_the_libpq_choice_to_the_application(built: Built) -> None:
    postgres = {r.name: r for r in requirements(built.metadata)["postgres"]}
    assert set(postgres) == {"psycopg", "psycopg-pool"}
    assert postgres["psycopg"].extras == set()  # not psycopg[binary]
    assert str(postgres["psycopg"].specifier) == ">=3.1"


def test_email_validator_skips_the_yanked_release(built: Built) -> None:
    core = {r.name: r for r in requirements(built.metadata)[""]}
    assert "2.1.0" not in core["email-validator"].specifier
    assert "2.1.1" in core["email-validator"].specifier


def group(name: str) -> list[Requirement]:
    """The requirements of a dependency group, its included groups' too."""
    found = []
    for entry in PYPROJECT["dependency-groups"][name]:
        if isinstance(entry, dict):
            found.extend(group(entry["include-group"]))
        else:
            found.append(Requirement(entry))
    return found


def names(requirements: list[Requirement]) -> set[str]:
    return {r.name.lower() for r in requirements}


def test_development_tools_are_dependency_groups() -> None:
    groups = PYPROJECT["dependency-groups"]
    assert {"test", "lint", "bench", "docs", "examples", "dev"} <= set(groups)
    assert names(group("test")) >= {
        "pytest",
        "pytest-xdist",  # README and .ci/run run the suite with -n auto
        "hypothesis",
        "psycopg",
        "psycopg-pool",
        "rapidfuzz",
        "numpy",
        "pyarrow",
        "mypy",  # the suite type-checks snippets
        "hatchling",  # this module builds the packages
    }
    assert next(r for r in group("test") if r.name == "psycopg").extras == {"binary"}
    assert names(group("lint")) == {"mypy", "ruff", "import-linter"}
    assert names(group("bench")) == {"numpy", "pandas", "python-stdnum"}
    assert names(group("docs")) == {"sphinx", "myst-parser", "furo"}
    assert names(group("examples")) == {
        "fastapi",
        "pydantic",
        "httpx",
        "uvicorn",
        "selenium",
        "flask",
        "django",
    }
    assert names(group("release")) == {"build", "twine", "hatchling"}
    assert names(group("dev")) == names(
        group("test") + group("lint") + group("docs") + group("examples") + group("release")
    )


def test_groups_ask_for_the_same_versions_as_the_extras() -> None:
    extras = {
        r.name.lower(): r.specifier
        for requirements in PYPROJECT["project"]["optional-dependencies"].values()
        for r in map(Requirement, requirements)
    }
    for name in ("test", "bench"):
        for requirement in group(name):
            if requirement.name.lower() in extras:
                assert requirement.specifier == extras[requirement.name.lower()], requirement


def test_no_group_or_extra_refers_back_to_custrec() -> None:
    # `pip install --group test` installs the group alone: a custrec[...] entry would fetch
    # custrec from the index instead of this tree.
    listed = [r for name in PYPROJECT["dependency-groups"] for r in group(name)]
    listed += [
        Requirement(r)
        for requirements in PYPROJECT["project"]["optional-dependencies"].values()
        for r in requirements
    ]
    assert "custrec" not in names(listed)
