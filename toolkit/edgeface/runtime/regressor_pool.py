"""Faces of one frame regressed at once: a pool of regressor interpreters, each on its own thread.

The regressor (MobileNet, 46 M MACs) gains little from intra-op threads; a frame with several faces
gains from running several single-threaded interpreters side by side instead (TFLite's Invoke
releases the GIL). `RegressorPool(extra)` keeps one worker thread per extra `LandmarkRegressor`
(each with its own interpreter of the same model file, built by `runtime.loading`); `map(fn, items,
own)` runs `fn(item, regressor)` for every item, the caller's thread taking part with its own
regressor `own`, and returns the results in the order of `items`. Jobs are handed out one at a time
(a worker takes the next face when it is free), so which interpreter regresses which face varies;
the interpreters run the same model with the same thread count, so each face gets the same bits
either way (tests/test_regressor_pool.py). With one item, or no extra regressor, `map` is a plain
loop on the caller's thread.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, Sequence

from edgeface.errors import EdgefaceError


class RegressorPool:
    """Worker threads, each owning one regressor; one batch (`map`) at a time."""

    def __init__(self, regressors: Sequence):
        self.regressors = list(regressors)
        self._cond = threading.Condition()
        self._fn: Optional[Callable] = None
        self._items: list = []
        self._results: list = []
        self._next = 0
        self._pending = 0
        self._error: Optional[BaseException] = None
        self._stop = False
        self.batches = 0  # batches run on more than one thread
        self._threads = [threading.Thread(target=self._loop, args=(r,), name=f"edgeface-regress-{i + 1}", daemon=True)
                         for i, r in enumerate(self.regressors)]
        for t in self._threads:
            t.start()

    @property
    def size(self) -> int:
        """Interpreters that may run at once (the caller's own included)."""
        return len(self.regressors) + 1

    def map(self, fn: Callable, items: Sequence, own) -> list:
        """[fn(item, regressor) for item in items], spread over the caller's `own` regressor and the pool's."""
        items = list(items)
        if len(items) <= 1 or not self.regressors:
            return [fn(item, own) for item in items]
        with self._cond:
            if self._stop:
                raise EdgefaceError("the regressor pool is closed")
            self._fn, self._items, self._results = fn, items, [None] * len(items)
            self._next, self._pending, self._error = 0, len(items), None
            self._cond.notify_all()
        self._work(own)
        with self._cond:
            self._cond.wait_for(lambda: self._pending == 0)
            results, err = self._results, self._error
            self._fn, self._items, self._results, self._error = None, [], [], None
            self.batches += 1
        if err is not None:
            raise err
        return results

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10.0)

    # ------------------------------------------------------------------ internals

    def _take(self) -> Optional[int]:
        with self._cond:
            if self._fn is None or self._next >= len(self._items):
                return None
            i = self._next
            self._next += 1
            return i

    def _work(self, regressor) -> None:
        while True:
            i = self._take()
            if i is None:
                return
            res, err = None, None
            try:
                res = self._fn(self._items[i], regressor)
            except BaseException as e:  # handed to the caller of map
                err = e
            with self._cond:
                self._results[i] = res
                if err is not None and self._error is None:
                    self._error = err
                self._pending -= 1
                if self._pending == 0:
                    self._cond.notify_all()

    def _loop(self, regressor) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or (self._fn is not None and self._next < len(self._items)))
                if self._stop:
                    return
            self._work(regressor)


__all__ = ("RegressorPool",)
