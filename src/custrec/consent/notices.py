"""Privacy-notice versions, their content hashes, and when a change forces re-consent.

Consent is given to a notice (PIPL Art. 14; GDPR Art. 7(1)). Each :class:`NoticeVersion` carries
the hash of the exact text shown and a ``material`` flag: a material version changes the purposes,
methods or categories of processing (PIPL Art. 14 para. 2), so grants given under any earlier
version stop covering processing once it takes effect. A non-material version (typo fixes, a new
contact address) leaves earlier grants valid.

>>> from datetime import UTC, datetime
>>> v1 = NoticeVersion(version="v1", content_hash=notice_hash("We use your e-mail for news."),
...                    effective_from=datetime(2025, 1, 1, tzinfo=UTC))
>>> v2 = NoticeVersion(version="v2", content_hash=notice_hash("We also share it."),
...                    effective_from=datetime(2025, 6, 1, tzinfo=UTC), material=True)
>>> history = NoticeHistory((v1, v2))
>>> history.covers("v1", v1.content_hash, as_of=datetime(2025, 5, 31, tzinfo=UTC))
True
>>> history.covers("v1", v1.content_hash, as_of=datetime(2025, 6, 1, tzinfo=UTC))
False
>>> v1.content_hash[:7]
'sha256:'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

import attrs

from custrec._checks import aware, non_empty_text, require_aware
from custrec.errors import ConsentError

__all__ = ["NoticeHistory", "NoticeVersion", "notice_hash"]


def notice_hash(text: str | bytes) -> str:
    """The content hash of a notice text: ``"sha256:"`` and the hex SHA-256 of its UTF-8 bytes.

    Hash exactly what was shown (after rendering, before translation into markup you do not show).
    """
    if isinstance(text, str):
        data = text.encode("utf-8")
    elif isinstance(text, bytes):
        data = text
    else:
        raise TypeError("notice_hash() takes str or bytes")
    return "sha256:" + hashlib.sha256(data).hexdigest()


@attrs.frozen(kw_only=True)
class NoticeVersion:
    """One published version of the privacy notice.

    ``material=True`` (the default: when unsure, ask again) means grants given under earlier
    versions no longer cover processing from ``effective_from``.
    """

    version: str = attrs.field(validator=non_empty_text())
    content_hash: str = attrs.field(validator=non_empty_text())
    effective_from: datetime = attrs.field(validator=aware())
    material: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))


def _versions(value: Iterable[NoticeVersion]) -> tuple[NoticeVersion, ...]:
    if isinstance(value, NoticeVersion):
        return (value,)
    return tuple(value)


@attrs.frozen
class NoticeHistory:
    """Every version of the notice, in publication order (strictly increasing ``effective_from``).

    Raises :class:`~custrec.consent.ConsentError` for repeated version names or out-of-order dates.
    A single :class:`NoticeVersion` is accepted as a history of one.
    """

    versions: tuple[NoticeVersion, ...] = attrs.field(converter=_versions)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        previous: datetime | None = None
        for version in self.versions:
            if not isinstance(version, NoticeVersion):
                raise TypeError("a notice history holds NoticeVersion objects")
            if version.version in seen:
                raise ConsentError(f"notice version {version.version!r} appears twice")
            seen.add(version.version)
            if previous is not None and version.effective_from <= previous:
                raise ConsentError("notice versions must take effect in strictly increasing order")
            previous = version.effective_from

    def __iter__(self) -> Iterator[NoticeVersion]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)

    def get(self, version: str) -> NoticeVersion | None:
        """The version named ``version``, or ``None``."""
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        return None

    def current(self, *, as_of: datetime) -> NoticeVersion | None:
        """The version in effect at ``as_of`` (``None`` before the first one)."""
        require_aware(as_of, "as_of")
        found = None
        for candidate in self.versions:
            if candidate.effective_from <= as_of:
                found = candidate
        return found

    def baseline(self, *, as_of: datetime) -> NoticeVersion | None:
        """The latest *material* version in effect at ``as_of``: grants must be this one or
        newer."""
        require_aware(as_of, "as_of")
        found = None
        for candidate in self.versions:
            if candidate.effective_from <= as_of and candidate.material:
                found = candidate
        return found

    def covers(self, version: str | None, content_hash: str | None, *, as_of: datetime) -> bool:
        """Whether a grant given under ``version`` (text hash ``content_hash``) still covers
        ``as_of``.

        True when no material version is in effect at ``as_of``. Otherwise the grant's version must
        be known to this history, be the baseline or a later version, and (when the grant recorded a
        hash) have the same content hash: a grant whose hash differs was given to other text.
        """
        baseline = self.baseline(as_of=as_of)
        if baseline is None:
            return True
        if version is None:
            return False
        index = next((i for i, v in enumerate(self.versions) if v.version == version), None)
        if index is None:
            return False
        if content_hash is not None and self.versions[index].content_hash != content_hash:
            return False
        return index >= self.versions.index(baseline)
