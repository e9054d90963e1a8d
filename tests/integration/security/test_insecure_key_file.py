"""A key file others may read is refused with InsecureKeyFile, which carries the path and the
mode so that a caller (the command line) can say how to fix it in its own terms."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from custrec.security import (
    FileKeyProvider,
    InsecureKeyFile,
    KeyConfigurationError,
    KeyRing,
    generate_key_file,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_an_insecure_key_file_is_refused_with_its_path_and_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys.json"
    generate_key_file(path)
    path.chmod(mode)
    for load in (FileKeyProvider, KeyRing.from_file):
        with pytest.raises(InsecureKeyFile) as caught:
            load(path)
        assert isinstance(caught.value, KeyConfigurationError)
        assert (caught.value.path, caught.value.mode) == (path, mode)


def test_insecure_key_file_errors_survive_pickling() -> None:
    error = InsecureKeyFile(Path("/srv/keys.json"), 0o644)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.path, copy.mode, str(copy)) == (
        InsecureKeyFile,
        error.path,
        0o644,
        str(error),
    )
