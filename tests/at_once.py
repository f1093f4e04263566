"""Run one action on several threads at once, as concurrent callers would, and collect the results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_once(action: Callable[[], T], threads: int) -> list[T]:
    """Start `threads` threads running `action`, wait for all, return their results.

    Raises:
        BaseException: the first failure of any thread, so that a thread's error fails the test
            instead of vanishing with the thread.
    """
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            result = action()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]
    return results
