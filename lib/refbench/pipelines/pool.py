"""Per-image work on both cores: a pool of single-threaded worker processes, results in input order.

One process with two threads used two cores no better than one (0.96×: OpenCV DNN and ONNX Runtime each
already spread one image over both cores, and contend); separate processes, each on one thread, analyze two
images at once. Each worker loads its models once; work items travel without pixels (a worker decodes the
workspace's copy of the image) and results come back as ``ImageAnalysis`` rows, written by the calling
process (DuckDB has a single writer). Workers are spawned, fresh interpreters: never ``fork`` a process that
already holds ONNX Runtime or OpenCV threads (and spawned workers are this process's children, so their CPU time
and memory show in its ``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from refbench.pipelines.analyze import ImageAnalyzer, ImageWork
from refbench.runtime import single_threaded
from refbench.types import ImageAnalysis

Item = TypeVar("Item")


@dataclass(frozen=True)
class ProcessMap:
    """A ``map_images`` for ``run_manifest``: ``workers`` processes, ``in_flight`` images submitted per worker.

    ``loads_models`` tells ``run_manifest`` that the calling process need not load any model.
    """

    workers: int = 2
    in_flight: int = 2
    loads_models: bool = True

    def __call__(
        self, analyze: Callable[[ImageWork], ImageAnalysis], work: Iterable[ImageWork]
    ) -> Iterator[ImageAnalysis]:
        if not isinstance(analyze, ImageAnalyzer):
            raise TypeError("ProcessMap runs an ImageAnalyzer (it pickles without models)")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=single_threaded) as pool:
            yield from in_order(partial(pool.submit, analyze), work, in_flight=self.workers * self.in_flight)


def in_order(
    submit: Callable[[Item], Any], items: Iterable[Item], *, in_flight: int, timeout_s: float | None = None
) -> Iterator[Any]:
    """The result of ``submit(item)`` (a future: ``concurrent.futures`` or Prefect's) for each item, in input order,
    with at most ``in_flight`` submitted and not yet collected."""
    pending: deque = deque()
    for item in items:
        pending.append(submit(item))
        while len(pending) >= in_flight:
            yield pending.popleft().result(timeout=timeout_s)
    while pending:
        yield pending.popleft().result(timeout=timeout_s)
