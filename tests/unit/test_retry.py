"""custrec.retry: which errors are retried, how long it waits, when it gives up."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.retry import backoff_delay, retry, retry_safe, retrying


def failing(errors: list[BaseException], result: str = "done") -> Callable[[], str]:
    """Work that raises ``errors`` one per call, then returns ``result``."""
    pending = list(errors)

    def work() -> str:
        if pending:
            raise pending.pop(0)
        return result

    return work


def busy() -> StorageError:
    return StorageError("the database is busy", retry_safe=True)


def conflict() -> VersionConflict:
    return VersionConflict("customer c1", expected=1, actual=2)


def test_retries_retry_safe_errors_and_conflicts_then_returns_the_result() -> None:
    delays: list[float] = []
    work = failing([busy(), conflict(), busy()])
    assert retry(work, attempts=4, sleep=delays.append, jitter=lambda: 1.0) == "done"
    assert delays == [0.05, 0.1, 0.2]


def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    errors: list[BaseException] = [busy(), conflict(), busy()]
    last = errors[-1]
    delays: list[float] = []
    with pytest.raises(StorageError) as excinfo:
        retry(failing(errors), attempts=3, sleep=delays.append)
    assert excinfo.value is last
    assert len(delays) == 2  # no pause after the last attempt


@pytest.mark.parametrize(
    "error",
    [
        StorageError("disk full", retry_safe=False),
        NotFound("customer c1"),
        DuplicateKey("customer c1"),
        ValueError("bad value"),
        KeyError("x"),
    ],
)
def test_other_errors_propagate_at_once(error: Exception) -> None:
    delays: list[float] = []
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        raise error

    with pytest.raises(type(error)) as excinfo:
        retry(work, attempts=5, sleep=delays.append)
    assert excinfo.value is error
    assert calls == [1]
    assert delays == []


def test_a_version_conflict_is_not_retried_when_the_caller_says_so() -> None:
    error = conflict()
    delays: list[float] = []
    with pytest.raises(VersionConflict) as excinfo:
        retry(failing([error]), conflicts=False, sleep=delays.append)
    assert excinfo.value is error
    assert delays == []
    # a retry-safe storage error is still retried
    assert retry(failing([busy()]), conflicts=False, sleep=delays.append) == "done"
    assert len(delays) == 1


def test_retry_safe_tells_which_errors_are_retried() -> None:
    assert retry_safe(busy())
    assert retry_safe(conflict())
    assert not retry_safe(conflict(), conflicts=False)
    assert not retry_safe(StorageError("x"))
    assert not retry_safe(RuntimeError("x"))


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter_between_half_and_all() -> None:
    assert [
        backoff_delay(n, backoff=0.1, max_backoff=1.0, jitter=lambda: 1.0)
        for n in (1, 2, 3, 4, 5, 6)
    ] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert backoff_delay(2, backoff=0.1, jitter=lambda: 0.0) == pytest.approx(0.1)
    assert backoff_delay(2, backoff=0.1, jitter=lambda: 0.5) == pytest.approx(0.15)
    assert backoff_delay(2, backoff=0.1, jitter=lambda: 7.0) == pytest.approx(0.2)  # clamped


@given(
    attempts=st.integers(1, 12),
    failures=st.integers(0, 15),
    backoff=st.floats(0, 5),
    max_backoff=st.floats(0, 60),
    shares=st.lists(st.floats(0, 1), min_size=15, max_size=15),
)
def test_attempts_and_delays_follow_the_documented_rule(
    attempts: int, failures: int, backoff: float, max_backoff: float, shares: list[float]
) -> None:
    draws = iter(shares)
    delays: list[float] = []
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise busy()
        return len(calls)

    if failures < attempts:
        assert (
            retry(
                work,
                attempts=attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                sleep=delays.append,
                jitter=lambda: next(draws),
            )
            == failures + 1
        )
        assert len(delays) == failures
    else:
        with pytest.raises(StorageError):
            retry(
                work,
                attempts=attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                sleep=delays.append,
                jitter=lambda: next(draws),
            )
        assert len(calls) == attempts
        assert len(delays) == attempts - 1
    for n, (delay, share) in enumerate(zip(delays, shares, strict=False), start=1):
        cap = min(max_backoff, backoff * 2 ** (n - 1))
        assert delay == pytest.approx(cap * (0.5 + share / 2))
        assert cap / 2 <= delay + 1e-12 and delay <= cap + 1e-12


def test_each_retry_is_logged_at_info_and_giving_up_at_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custrec")
    with pytest.raises(StorageError):
        retry(
            failing([busy(), conflict(), busy()]),
            attempts=3,
            what="sweep batch",
            sleep=lambda s: None,
        )
    records = [r for r in caplog.records if r.name == "custrec.retry"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO, logging.WARNING]
    assert "sweep batch" in records[0].getMessage()
    assert "StorageError" in records[0].getMessage()
    assert "VersionConflict" in records[1].getMessage()
    assert "giving up" in records[2].getMessage()
    # the error's message is not repeated (a driver's text could quote a value)
    assert all("busy" not in r.getMessage() for r in records)


def test_the_decorator_retries_each_call_with_its_arguments() -> None:
    tries: list[tuple[int, str]] = []
    delays: list[float] = []

    @retrying(attempts=3, sleep=delays.append)
    def write(n: int, *, label: str) -> str:
        tries.append((n, label))
        if len(tries) % 2:
            raise conflict()
        return f"{label}{n}"

    assert write(1, label="a") == "a1"
    assert tries == [(1, "a"), (1, "a")]
    assert write.__name__ == "write"
    assert len(delays) == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"attempts": 0}, ValueError),
        ({"attempts": True}, TypeError),
        ({"backoff": -1}, ValueError),
        ({"max_backoff": float("nan")}, ValueError),
        ({"what": ""}, ValueError),
    ],
)
def test_bad_options_are_refused_before_any_work(options: dict[str, object], error: type) -> None:
    calls: list[int] = []
    with pytest.raises(error):
        retry(lambda: calls.append(1), **options)  # type: ignore[arg-type]
    assert calls == []
