"""Files readable only by their owner: for exports, error files, reports and checkpoints.

Everything custrec writes that may hold personal data goes through :func:`open_private` or
:func:`write_private_text`. A new file is created with mode 0600 (the umask can only narrow
it); an existing regular file is set to 0600 before it is truncated and rewritten, so an older
0644 file does not keep its wider mode. Other files (``/dev/stdout``, a FIFO, a terminal) are
written as they are: their modes are never changed.

>>> import os, shutil, stat, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "report.json")
>>> write_private_text(path, "{}\\n")
>>> oct(stat.S_IMODE(os.stat(path).st_mode))
'0o600'
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import codecs
import os
import stat
from typing import IO, Final

__all__ = ["PRIVATE_MODE", "open_private", "write_private_text"]

PRIVATE_MODE: Final = 0o600
"""The mode of every file :func:`open_private` creates or rewrites."""

_FLAGS: Final = {
    "w": os.O_WRONLY | os.O_CREAT,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def open_private(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> IO[str]:
    """Open ``path`` for writing text, readable and writable by its owner only.

    ``mode`` is ``"w"`` (create or truncate), ``"x"`` (create; fail if it exists) or ``"a"``
    (create or append). ``encoding`` and ``newline`` are as for :func:`open`.
    """
    flags = _FLAGS.get(mode)
    if flags is None:
        raise ValueError("mode must be 'w', 'x' or 'a'")
    codecs.lookup(encoding)  # an unknown encoding fails before anything is created
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            # before truncating: a file whose mode cannot be narrowed keeps its contents
            if hasattr(os, "fchmod"):
                os.fchmod(fd, PRIVATE_MODE)
            if mode == "w":
                os.ftruncate(fd, 0)
        return open(fd, mode if mode != "x" else "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def write_private_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` (created or replaced) with mode 0600, as :func:`open_private`."""
    with open_private(path, encoding=encoding) as stream:
        stream.write(text)
