"""Name search keys: deterministic text keys for finding customers by name (pure).

Names are encrypted at rest, so a name search looks up blind-index tokens of keys. The keys of
a stored name (:func:`name_keys`) and of a search text (:func:`query_keys`) are computed by the
same functions of :mod:`custrec.matching.normalize`, so a search finds a customer exactly when
the two sets share a ``(key kind, value)`` pair. The kinds:

- ``name``: :func:`~custrec.matching.normalize.fold` of the whole text (width, case,
  whitespace and punctuation do not matter). Every customer and every query has it.
- ``name_core`` (organisations): the core of
  :func:`~custrec.matching.normalize.org_name`, without legal form and without a leading or
  bracketed region. ``"某某科技"`` finds ``"北京某某科技有限公司"``, ``"某某科技（北京）有限公司"``
  and ``"北京市某某科技股份有限公司"``, and also ``"上海某某科技有限公司"``: the region is not
  part of the key, on purpose (a search finds the company wherever it is registered; the caller
  filters by region). Business-scope words stay in the core: ``"北京某某科技发展有限公司"``
  has the core ``"某某科技发展"``, a different key, so ``"某某科技"`` does not find it (only
  ``"某某科技发展"`` does). A name that is nothing but legal forms (``"有限公司"``,
  ``"Co., Ltd."``) has no core key: a legal form alone finds nothing.
- ``name_any_order`` (individuals): the name's parts sorted, joined with one space. The parts
  are the tokens of :func:`~custrec.matching.normalize.person_name`, with every CJK token split
  into its characters: a Latin-script name gives its words (``"SMITH, John"`` ->
  ``"john smith"``), a CJK name its characters (``"张伟"`` -> ``"伟 张"``), a mixed name both
  (``"李Lily"`` -> ``"lily 李"``). So ``"伟 张"``, ``"张 伟"`` and ``"张伟"`` find each other,
  while ``"张伟"`` and ``"张卫"`` do not; names that are anagrams of each other share the key.

A search text may name a company or a person, so :func:`query_keys` gives every key of both
kinds; a text that is only legal forms gets only its ``name`` key (it then finds just a
customer of that very name). Text without a letter or digit has no key at all. Key values are
never empty.

>>> sorted(name_keys("organization", "北京某某科技有限公司"))
[('name', '北京某某科技有限公司'), ('name_core', '某某科技')]
>>> sorted(name_keys("individual", "ZHANG, Wei"))
[('name', 'zhangwei'), ('name_any_order', 'wei zhang')]
>>> sorted(query_keys("某某科技"))
[('name', '某某科技'), ('name_any_order', '技 某 某 科'), ('name_core', '某某科技')]
>>> bool(query_keys("Wei Zhang") & name_keys("individual", "ZHANG, Wei"))
True
"""

from __future__ import annotations

import re
from typing import Final

from custrec.matching.normalize import OrgName, PersonName, fold, org_name, person_name
from custrec.model.records import CustomerKind

__all__ = ["NAME_KEY_KINDS", "NameKey", "name_keys", "query_keys"]

NameKey = tuple[str, str]
"""``(key kind, value)``, for example ``("name_core", "某某科技")``."""

NAME_KEY_KINDS: Final = ("name", "name_core", "name_any_order")
"""Every key kind :func:`name_keys` and :func:`query_keys` produce."""

_IDEOGRAPHS: Final = re.compile("[\u4e00-\u9fa5]+")

# Put before a core by _legal_form_only, so that org_name may strip every legal form of it.
_SENTINEL: Final = "x"


def _require_str(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")


def _legal_form_only(core: str) -> bool:
    """Whether an org core is nothing but legal forms.

    :func:`org_name` keeps a legal form that would leave nothing (``"有限公司"`` is its own
    core), so a core is a lone legal form exactly when ``org_name`` strips all of it once a
    word is put in front.
    """
    return bool(core) and org_name(f"{_SENTINEL} {core}").core == _SENTINEL


def _is_cjk_word(token: str) -> bool:
    # person_name keeps a name written only in CJK as one token (separators removed) and splits
    # any other name at spaces: spacing out the characters of a token tells them apart.
    if len(token) < 2:
        return True
    if token.isascii():  # a folded token: letters and digits, each its own token once spaced
        return False
    if _IDEOGRAPHS.fullmatch(token):  # CJK ideographs only, each its own fold
        return True
    return person_name(" ".join(token)).key == token


def _any_order(text: str, person: PersonName | None = None) -> str:
    parts: list[str] = []
    for token in (person_name(text) if person is None else person).tokens:
        if _is_cjk_word(token):
            parts.extend(token)
        else:
            parts.append(token)
    return " ".join(sorted(parts))


def _keys(**values: str) -> frozenset[NameKey]:
    return frozenset((kind, value) for kind, value in values.items() if value)


def name_keys(kind: str, name: str) -> frozenset[NameKey]:
    """Return the search keys to index for a stored customer's name.

    ``kind`` is ``"individual"`` (keys ``name`` and ``name_any_order``) or ``"organization"``
    (keys ``name`` and ``name_core``); ``ValueError`` for another kind, ``TypeError`` for a
    non-str argument. A name without a letter or digit has no keys.

    >>> sorted(name_keys("individual", "张 伟"))
    [('name', '张伟'), ('name_any_order', '伟 张')]
    """
    _require_str(kind, "kind")
    _require_str(name, "name")
    return _name_keys_of(kind, name, None)


def _name_keys_of(
    kind: str, name: str, normalised: PersonName | OrgName | None
) -> frozenset[NameKey]:
    """:func:`name_keys` of a checked ``kind`` and ``name``, given ``name``'s
    :func:`~custrec.matching.normalize.person_name` or ``org_name`` when the caller has it
    already (intake computes it once for the blocking and the search keys)."""
    if kind == CustomerKind.ORGANIZATION:
        org = normalised if isinstance(normalised, OrgName) else org_name(name)
        core = org.core
        return _keys(name=fold(name), name_core="" if _legal_form_only(core) else core)
    if kind == CustomerKind.INDIVIDUAL:
        person = normalised if isinstance(normalised, PersonName) else None
        return _keys(name=fold(name), name_any_order=_any_order(name, person))
    raise ValueError("kind must be 'individual' or 'organization'")


def query_keys(text: str) -> frozenset[NameKey]:
    """Return the keys a name search for ``text`` looks up: any of them finding a customer.

    The text may name an organisation or a person, so the keys of both are given: ``name``,
    ``name_core`` and ``name_any_order``. A text that is only legal forms gives its ``name``
    key alone; a text without a letter or digit gives none. ``TypeError`` for a non-str.

    >>> sorted(query_keys("有限公司"))
    [('name', '有限公司')]
    >>> query_keys("  ・ ")
    frozenset()
    """
    _require_str(text, "text")
    core = org_name(text).core
    if _legal_form_only(core):
        return _keys(name=fold(text))
    return _keys(name=fold(text), name_core=core, name_any_order=_any_order(text))
