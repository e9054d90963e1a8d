"""Similarity scores: hand-computed values, properties, and parity with rapidfuzz."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import similarity
from custrec.matching.similarity import (
    jaro_winkler,
    python_jaro_winkler,
    python_ratio,
    python_token_sort_ratio,
    ratio,
    token_sort_ratio,
)

Scorer = Callable[[str, str], float]

ALL_SCORERS: list[Scorer] = [
    ratio,
    jaro_winkler,
    token_sort_ratio,
    python_ratio,
    python_jaro_winkler,
    python_token_sort_ratio,
]
scorers = pytest.mark.parametrize("score", ALL_SCORERS, ids=lambda f: f.__name__)

# Small alphabets make collisions (and so interesting LCS / Jaro cases) likely; the mix covers
# ASCII, CJK, an astral-plane ideograph and the whitespace characters rapidfuzz treats specially.
_MIXED = "abcAB 张伟李娜欧阳\U00020000\xa0\x85\u3000\t-·"
mixed_text = st.text(alphabet=_MIXED, max_size=30)
any_text = st.text(max_size=30)
long_text = st.text(alphabet="abcd张伟", min_size=50, max_size=300)
texts = st.one_of(mixed_text, any_text)


# --- hand-computed values ------------------------------------------------------------------------


@pytest.mark.parametrize("score", [ratio, python_ratio])
def test_ratio_examples(score: Scorer) -> None:
    # LCS("kitten", "sitting") = "ittn" (4): indel distance = 6 + 7 - 8 = 5.
    assert score("kitten", "sitting") == pytest.approx(1 - 5 / 13)
    assert score("张伟", "张玮") == pytest.approx(0.5)
    assert score("北京字节跳动", "字节跳动") == pytest.approx(1 - 2 / 10)
    assert score("", "") == 1.0
    assert score("abc", "") == 0.0
    assert score("abc", "xyz") == 0.0


@pytest.mark.parametrize("score", [jaro_winkler, python_jaro_winkler])
def test_jaro_winkler_examples(score: Scorer) -> None:
    # Jaro = (6/6 + 6/6 + 5/6) / 3; common prefix "MAR" (3).
    jaro = (1 + 1 + 5 / 6) / 3
    assert score("MARTHA", "MARHTA") == pytest.approx(jaro + 0.3 * (1 - jaro))
    assert score("MARTHA", "MARHTA") == pytest.approx(0.961111111)
    # Window 8 // 2 - 1 = 3; matches D, I, O, N; prefix "DI".
    jaro = (4 / 5 + 4 / 8 + 1) / 3
    assert score("DIXON", "DICKSONX") == pytest.approx(jaro + 0.2 * (1 - jaro))
    # 5 of 6 match, prefix capped at 4.
    jaro = (5 / 6 + 5 / 6 + 1) / 3
    assert score("北京字节跳动", "北京字节跳舞") == pytest.approx(jaro + 0.4 * (1 - jaro))


@pytest.mark.parametrize("score", [jaro_winkler, python_jaro_winkler])
def test_jaro_winkler_conventions(score: Scorer) -> None:
    # Empty strings.
    assert score("", "") == 1.0
    assert score("", "a") == 0.0
    assert score("a", "a") == 1.0
    # Jaro 2/3 is not above 0.7: no prefix boost although the first character agrees.
    assert score("张伟", "张玮") == pytest.approx(2 / 3)
    assert score("ab", "ac") == pytest.approx(2 / 3)
    # Window of max(len) // 2 - 1 = 0 for two characters: a swap matches nothing.
    assert score("ab", "ba") == 0.0
    # 3 out-of-order matches count as 3 // 2 = 1 transposition (rapidfuzz's convention).
    jaro = (1 + 1 + 5 / 6) / 3
    assert score("aaaabc", "aaabca") == pytest.approx(jaro + 0.3 * (1 - jaro))
    # The prefix boost never uses more than 4 characters.
    jaro = (9 / 10 + 9 / 10 + 1) / 3
    assert score("abcdefghij", "abcdefghiz") == pytest.approx(jaro + 0.4 * (1 - jaro))


@pytest.mark.parametrize("score", [token_sort_ratio, python_token_sort_ratio])
def test_token_sort_ratio_examples(score: Scorer) -> None:
    assert score("Zhang Wei", "Wei  Zhang") == 1.0
    assert score("fuzzy wuzzy was a bear", "wuzzy fuzzy was a bear") == 1.0
    assert score("张 伟", "伟　张") == 1.0  # ideographic space separates
    assert score("wei zhang", "zhang wie") == pytest.approx(ratio("wei zhang", "wie zhang"))
    assert score("", "") == 1.0
    assert score("   ", "") == 1.0
    assert score("a", "") == 0.0
    # Case is not folded: normalise first.
    assert score("Zhang", "zhang") < 1.0


@pytest.mark.parametrize("score", [token_sort_ratio, python_token_sort_ratio])
def test_token_sort_ratio_no_break_space_quirk(score: Scorer) -> None:
    # rapidfuzz does not split on U+00A0 / U+0085 in strings made only of code points below
    # U+0100, but does in wider strings; both implementations agree on that.
    assert score("b\xa0a", "a\xa0b") == pytest.approx(ratio("b\xa0a", "a\xa0b"))
    assert score("b\xa0a", "a\xa0b") < 1.0
    assert score("中\xa0a", "a 中") == 1.0


# --- properties ----------------------------------------------------------------------------------


@scorers
@given(a=texts, b=texts)
def test_scores_are_symmetric_and_in_range(score: Scorer, a: str, b: str) -> None:
    value = score(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(score(b, a), abs=1e-12)


@scorers
@given(a=texts)
def test_identity_scores_one(score: Scorer, a: str) -> None:
    assert score(a, a) == 1.0


@scorers
@pytest.mark.parametrize(("a", "b"), [(1, "a"), ("a", None), (b"secret-123", "x"), (["x"], ["x"])])
def test_non_str_raises_without_echoing_the_value(score: Scorer, a: object, b: object) -> None:
    with pytest.raises(TypeError, match="must be str") as info:
        score(a, b)  # type: ignore[arg-type]
    assert "secret" not in str(info.value)
    assert "'x'" not in str(info.value)


def test_pure_python_ratio_is_exact_on_long_strings() -> None:
    # Longer than one 64-bit word, with a shared prefix and suffix trimmed first.
    a = "前缀" + "ab" * 100 + "中" + "后缀"
    b = "前缀" + "ba" * 100 + "后缀"
    # LCS = 2 + 199 + 2 ("ab"*100 vs "ba"*100 share 199); lengths 205 and 204.
    assert python_ratio(a, b) == pytest.approx(1 - (205 + 204 - 2 * 203) / (205 + 204))


# --- parity with rapidfuzz -----------------------------------------------------------------------


def _rapidfuzz() -> ModuleType:
    return pytest.importorskip("rapidfuzz")


@given(a=texts, b=texts)
def test_python_ratio_matches_rapidfuzz(a: str, b: str) -> None:
    fuzz = _rapidfuzz().fuzz
    assert python_ratio(a, b) == pytest.approx(fuzz.ratio(a, b) / 100, abs=1e-9)


@given(a=long_text, b=long_text)
def test_python_ratio_matches_rapidfuzz_on_long_strings(a: str, b: str) -> None:
    fuzz = _rapidfuzz().fuzz
    assert python_ratio(a, b) == pytest.approx(fuzz.ratio(a, b) / 100, abs=1e-9)


@given(a=st.one_of(texts, long_text), b=st.one_of(texts, long_text))
def test_python_jaro_winkler_matches_rapidfuzz(a: str, b: str) -> None:
    jaro_winkler_rf = _rapidfuzz().distance.JaroWinkler
    expected = jaro_winkler_rf.normalized_similarity(a, b)
    assert python_jaro_winkler(a, b) == pytest.approx(expected, abs=1e-9)


@given(a=st.text(alphabet="aab", max_size=12), b=st.text(alphabet="aab", max_size=12))
def test_python_jaro_winkler_matches_rapidfuzz_on_repetitive_text(a: str, b: str) -> None:
    jaro_winkler_rf = _rapidfuzz().distance.JaroWinkler
    expected = jaro_winkler_rf.normalized_similarity(a, b)
    assert python_jaro_winkler(a, b) == pytest.approx(expected, abs=1e-9)


@given(a=texts, b=texts)
def test_python_token_sort_ratio_matches_rapidfuzz(a: str, b: str) -> None:
    fuzz = _rapidfuzz().fuzz
    expected = fuzz.token_sort_ratio(a, b, processor=None) / 100
    assert python_token_sort_ratio(a, b) == pytest.approx(expected, abs=1e-9)


@given(a=texts, b=texts)
def test_public_functions_match_the_python_fallback(a: str, b: str) -> None:
    assert ratio(a, b) == pytest.approx(python_ratio(a, b), abs=1e-9)
    assert jaro_winkler(a, b) == pytest.approx(python_jaro_winkler(a, b), abs=1e-9)
    assert token_sort_ratio(a, b) == pytest.approx(python_token_sort_ratio(a, b), abs=1e-9)


# --- backend selection ---------------------------------------------------------------------------


def _load_fresh_copy() -> ModuleType:
    """Execute similarity.py again as a separate module (the shared one is left untouched)."""
    assert similarity.__file__ is not None
    spec = importlib.util.spec_from_file_location("_similarity_under_test", similarity.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_env_var_forces_python_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTREC_FUZZY", "python")
    module = _load_fresh_copy()
    assert module.BACKEND == "python"
    assert module.ratio("kitten", "sitting") == pytest.approx(8 / 13)
    assert module.jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.961111111)


def test_missing_rapidfuzz_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTREC_FUZZY", raising=False)
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # makes the import raise ImportError
    assert _load_fresh_copy().BACKEND == "python"


def test_rapidfuzz_backend_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    _rapidfuzz()
    monkeypatch.delenv("CUSTREC_FUZZY", raising=False)
    assert _load_fresh_copy().BACKEND == "rapidfuzz"


def test_backend_is_a_known_name() -> None:
    assert similarity.BACKEND in ("rapidfuzz", "python")
