"""ONNX Runtime execution providers: choose them explicitly and report the one really used."""

from __future__ import annotations

import os

from refbench.errors import ConfigError

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def resolve_providers(requested: list[str] | None) -> list[str]:
    """Providers to ask ONNX Runtime for.

    ``None`` means automatic: CUDA first when this onnxruntime build offers it, then CPU.
    (onnxruntime-gpu reports "GPU" from ``get_device()`` even without a GPU, so never trust
    that; the provider a session actually uses is read back from the session.)
    """
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if requested is None:
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    missing = [p for p in requested if p not in available]
    if missing:
        raise ConfigError(f"execution providers {missing} are not available; this onnxruntime offers {available}")
    return list(requested)


def session_options():
    """ONNX Runtime session options for a pipeline that alternates ORT with OpenCV.

    ORT's intra-op threads spin-wait after each run by default; on a 2-core laptop that spinning
    steals the cores the next OpenCV DNN call needs (measured: YOLOv3-tiny 105 ms → 75 ms per
    image once ORT stops spinning, face analysis unchanged). A worker process of a pool runs one
    thread per library (``single_threaded``): the pool, not each library, spreads the cores.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if os.environ.get(SINGLE_THREADED) == "1":
        options.intra_op_num_threads = options.inter_op_num_threads = 1
    return options


SINGLE_THREADED = "REFBENCH_SINGLE_THREADED"  # set in worker processes of a pool (refbench.pipelines.pool)


def single_threaded() -> None:
    """Make this process run ONNX Runtime, OpenCV and BLAS on one thread each (call first thing in a worker)."""
    import cv2

    os.environ[SINGLE_THREADED] = "1"
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    cv2.setNumThreads(1)
