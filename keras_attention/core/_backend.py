"""Backend and device facts, in one private place.

The kernels ask here which backend runs, whether ops execute eagerly, and
on which device a tensor lives; nothing else in the package inspects the
backend. `jax` is imported only inside the functions that need it, and only
when JAX is the backend.
"""

import functools

import keras

# Float types that a CPU computes in float32 on JAX (see `jax_cpu_low_precision`).
_LOW_PRECISION = ("float16", "bfloat16")


def name():
    """The Keras backend: `"jax"`, `"tensorflow"`, `"torch"` or `"numpy"`."""
    return keras.backend.backend()


def executing_eagerly(x):
    """Whether ops on `x` run one by one, in program order (torch, eager TF).

    Otherwise (JAX, TensorFlow graphs and XLA) a compiler schedules the
    program: independent chunks written as a Python loop may then be alive
    at the same time, in the forward and above all in the backward pass.
    """
    backend = name()
    if backend == "torch":
        return True
    if backend == "tensorflow":
        # Eager tensors have `.numpy()`; the symbolic tensors of a traced
        # graph (`tf.function`, with or without XLA) do not.
        return hasattr(x, "numpy")
    return False


def on_cuda(x):
    """Whether `x` is a tensor on a CUDA device (PyTorch's `device.type`)."""
    return getattr(getattr(x, "device", None), "type", None) == "cuda"


def jax_on_gpu(x):
    """Whether the JAX array `x` lives (or, traced, will run) on a GPU."""
    import jax

    if isinstance(x, jax.core.Tracer):  # Under jit: where it will run.
        return jax.default_backend() == "gpu"
    try:
        return all(device.platform == "gpu" for device in x.devices())
    except AttributeError:  # Not a jax.Array (e.g. NumPy): the default device.
        return jax.default_backend() == "gpu"


@functools.cache
def default_device_is_cpu():
    """Whether Keras' first device is a CPU."""
    devices = keras.distribution.list_devices()
    return bool(devices) and devices[0].lower().startswith("cpu")


def _jax_on_cpu():
    if name() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


def jax_cpu_low_precision(x):
    """Whether `x` is a float16/bfloat16 tensor for JAX on a CPU.

    XLA on a CPU has no float16/bfloat16 dot with float32 accumulation
    ("precision 'F16_F16_F32' is not supported by dot_general on CPU" under
    jit), so the kernels compute those dtypes in float32 there.
    """
    if keras.backend.standardize_dtype(x.dtype) not in _LOW_PRECISION:
        return False
    return _jax_on_cpu()


def explicit_beats_fused(x):
    """Whether softmax(QK^T)V written out beats `ops.dot_product_attention`.

    On JAX with a CPU, XLA's fused attention op ran at 0.14 of the matmul
    rate; the explicit form with heads-first tensors was 3.4x faster forward
    and 2.4x faster forward+backward (batch 4, T=1024, 8 heads x 32,
    float32, jit; `benchmarks/multi_head.py`). On eager TensorFlow with a
    CPU, Keras' op is the same einsums in `(batch, T, heads, d)` layout, and
    the transposes to it and back are copies: the heads-first form ran at
    0.88-1.02 of Keras' layer where the fused op ran at 1.03-1.19 (the same
    benchmark, padding the worst). Under XLA those transposes fuse and the
    fused op stays ahead (forward+backward 0.94-1.02 against 1.20-1.27), as
    it does on torch (its fused CPU and GPU kernels) and on GPUs.
    """
    if name() == "tensorflow":
        return executing_eagerly(x) and default_device_is_cpu()
    return _jax_on_cpu() and not jax_cpu_low_precision(x)
