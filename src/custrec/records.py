"""The record types under the module name the public contract promises (shared/DESIGN.md).

They are defined in :mod:`custrec.model.records`, where the data model lives; this module
re-exports the same objects, so ``from custrec.records import Customer`` and
``from custrec.model.records import Customer`` give the same class.
"""

from custrec.model import records as _records
from custrec.model.records import *  # noqa: F403

__all__ = list(_records.__all__)
