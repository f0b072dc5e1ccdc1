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

from refbench.pipelines.analyze import ImageAnalyzer, ImageWork
from refbench.runtime import single_threaded
from refbench.types import ImageAnalysis


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
            pending: deque = deque()
            for item in work:
                pending.append(pool.submit(analyze, item))
                while len(pending) >= self.workers * self.in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
