"""Model calls off the event loop: one thread pool per app, sized by ``model_threads``.

The event loop only parses HTTP, routes, checks keys and answers; what can take long
runs in :class:`ModelThreads`: every model call (``predict``, ``predict_proba``,
``explain``, those of the micro-batcher too) and the validation and conversion of a
request of :data:`INLINE_MAX_ROWS` rows or more. Before this, a 10,000-row request with
``?explain=true`` held the loop for 1.4 s, and ``/health/live`` waited as long.

Why the loop stays free although Python has one lock (the GIL): LightGBM and NumPy
release it while they compute, and Python code in a thread gives it up every few
milliseconds (``sys.getswitchinterval()``), so the loop gets its turn. A single call
into C that holds the lock blocks the loop for its own length, wherever it runs: a
large request body is therefore decoded here in pieces of about a millisecond each
(:func:`modelcycle.serving._json.decode_in_pieces`), and the prediction log encodes a
large request's rows a slice at a time.

Why small requests are still validated on the loop: validating fewer than
:data:`INLINE_MAX_ROWS` rows costs tens of microseconds, about what a hop to a thread
and back costs (~30 us measured with uvloop, ~90 us per request under load), so a hop
would double it for nothing. Their model call hops unless the version's micro-batches
have been taking less than :data:`INLINE_CALL_S` (see :mod:`modelcycle.serving._batcher`).

Models are called from up to ``model_threads`` threads at once: LightGBM, XGBoost and
scikit-learn predict safely in parallel; a model of the caller's own classes (the
``trusted`` flavor) that is not thread-safe needs ``model_threads=1``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sized
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Requests with fewer rows are validated on the event loop (see the module docstring).
INLINE_MAX_ROWS = 64
#: A micro-batch runs on the event loop while its version's batches take less than this
#: (seconds, a moving average); see :mod:`modelcycle.serving._batcher` for why.
INLINE_CALL_S = 0.002
#: Name prefix of the pool's threads (shown by ``threading.current_thread()``).
THREAD_PREFIX = "modelcycle-model"


class ModelThreads:
    """The threads model calls and large validations run in (see the module docstring).

    Parameters
    ----------
    threads:
        Most calls running at once; more wait their turn.

    Thread-safety: :meth:`submit`, :meth:`run` and :meth:`close` are called from the
    event loop's thread only. The pool starts on first use and again after
    :meth:`close`, so one app can be started and stopped more than once (tests do).

    Examples
    --------
    >>> threads = ModelThreads(2)
    >>> asyncio.run(threads.run(sum, [1, 2, 3]))
    6
    >>> threads.close()
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def submit(
        self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        """Start ``function(*args, **kwargs)`` in a thread; its future resolves on the loop."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=THREAD_PREFIX)
        call = functools.partial(function, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` computed in a thread (its exception raised here)."""
        return await self.submit(function, *args, **kwargs)

    def close(self) -> None:
        """Stop the threads once the calls running now have ended (queued ones are dropped)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def row_count(inputs: Any) -> int:
    """Rows in a request as sent: a list of rows, or the longest of its columns.

    Used before validation only to choose where to validate, so anything odd counts
    as what it claims; the validator then says what is wrong.
    """
    if isinstance(inputs, dict):
        return max((len(v) for v in inputs.values() if isinstance(v, Sized)), default=0)
    return len(inputs) if isinstance(inputs, Sized) else 0
