"""Backend-agnostic gradients for tests (tests may import the backends)."""

import keras
import numpy as np


def value_and_grad(fn, *args):
    """Return `(fn(*args), [d fn / d arg for each arg])` as NumPy arrays.

    `fn` maps tensors to a scalar; `args` are NumPy arrays. With a single
    argument, the gradient is returned alone rather than in a list.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(
            *[jax.numpy.asarray(a) for a in args]
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
    elif backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors)
        value = value.detach()
    else:  # pragma: no cover
        raise NotImplementedError(backend)
    value = np.asarray(keras.ops.convert_to_numpy(value))
    grads = [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads]
    return value, grads[0] if len(grads) == 1 else grads
