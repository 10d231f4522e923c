"""Positional encodings: fixed sinusoidal and learned tables."""

import numbers

import keras
from keras import ops

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_choice,
    check_feature_size,
    check_features_known,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_rank,
)

MODES = ("encoding", "add")


class _PositionalBase(ValidatedLayerMixin, keras.layers.Layer):
    """Shared input checks, `mode` handling and Keras contract."""

    def __init__(self, mode="encoding", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice(self, "mode", mode, MODES)
        self.supports_masking = True

    def _check_inputs(self, shape):
        shape = tuple(shape)
        # Positions run along axis -2: any rank of at least 2.
        ranks = range(2, max(len(shape), 2) + 1)
        check_rank(self, "inputs", shape, ranks, "(batch, sequence_length, dim)")
        check_features_known(self, {"inputs": shape})
        return shape

    def _check_start_index(self, start_index):
        """A Python `start_index` must be an int >= 0 (tensors: not checked)."""
        if isinstance(start_index, numbers.Number):
            check_non_negative_int(self, "start_index", start_index)

    def _finish(self, inputs, encoding):
        encoding = ops.cast(encoding, self.compute_dtype)
        if self.mode == "add":
            return ops.add(inputs, encoding)
        return ops.broadcast_to(encoding, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


@keras.saving.register_keras_serializable(package="keras_attention")
class SinusoidalPositionalEncoding(_PositionalBase):
    r"""Fixed sinusoidal positional encoding (Vaswani et al., 2017).

    For position $p$ and feature $j$ of a `dim`-wide input, with
    $\lambda$ = `max_wavelength`:

    $$PE_{p,2i} = \sin\!\big(p / \lambda^{2i/\mathrm{dim}}\big), \qquad
    PE_{p,2i+1} = \cos\!\big(p / \lambda^{2i/\mathrm{dim}}\big).$$

    Positions run along axis -2 and start at `start_index`, so a decoder
    generating step by step gets the encoding of its current position.

    Args:
        max_wavelength (float): the longest wavelength $\lambda$ (default
            10000).
        mode (str): `"encoding"` returns the encodings broadcast to the input's
            shape (add them yourself); `"add"` returns `inputs + encodings`.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): `(batch, sequence_length, dim)`; only its shape is used
            in `"encoding"` mode. A Keras mask on it is passed on unchanged.
        start_index (int | Tensor): position of the first step (int or scalar
            int tensor), for cached decoding. Default 0.

    Returns:
        A tensor of the input's shape in the layer's compute dtype.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    embeddings = np.zeros((2, 10, 16), dtype="float32")
    layer = keras_attention.SinusoidalPositionalEncoding(mode="add")
    outputs = layer(embeddings)
    assert outputs.shape == (2, 10, 16)
    # Position 0: sin(0) = 0 on even features, cos(0) = 1 on odd ones.
    first = keras.ops.convert_to_numpy(outputs)[0, 0, :4]
    np.testing.assert_allclose(first, [0, 1, 0, 1])
    ```
    """

    def __init__(self, max_wavelength=10000, mode="encoding", **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.max_wavelength = check_positive_float(
            self, "max_wavelength", max_wavelength
        )

    def call(self, inputs, start_index=0):
        shape = self._check_inputs(inputs.shape)
        self._check_start_index(start_index)
        dim = shape[-1]
        length = ops.shape(inputs)[-2]
        positions = ops.cast(ops.arange(length) + start_index, "float32")
        features = ops.arange(dim)
        even = features - features % 2  # 2i for features 2i and 2i + 1
        inverse_frequency = ops.power(
            self.max_wavelength, -ops.cast(even, "float32") / dim
        )
        angles = ops.expand_dims(positions, -1) * inverse_frequency
        encoding = ops.where(features % 2 == 0, ops.sin(angles), ops.cos(angles))
        return self._finish(inputs, encoding)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config


@keras.saving.register_keras_serializable(package="keras_attention")
class LearnedPositionalEmbedding(_PositionalBase):
    r"""Learned absolute positional embedding: a table of `sequence_length` rows.

    $$PE_{p} = E[p], \qquad E \in \mathbb{R}^{L \times \mathrm{dim}},
    \quad L = \mathrm{sequence\_length}.$$

    Positions run along axis -2 and start at `start_index`. A sequence that
    does not fit in the table (`start_index + length > sequence_length`,
    when both are known) raises a `ValueError`; a tensor `start_index`
    beyond the table cannot be checked inside compiled code and is clipped by
    the backend, so size the table for the longest sequence you decode.

    Args:
        sequence_length (int): number of positions in the table (the longest
            sequence).
        initializer (str | keras.initializers.Initializer): initializer of the
            table (default `"glorot_uniform"`).
        mode (str): `"encoding"` returns the embeddings broadcast to the input's
            shape; `"add"` returns `inputs + embeddings`.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): `(batch, length, dim)`. A Keras mask on it is passed
            on.
        start_index (int | Tensor): position of the first step (int or scalar
            int tensor).

    Returns:
        A tensor of the input's shape in the layer's compute dtype.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    tokens = np.random.rand(2, 10, 16).astype("float32")
    layer = keras_attention.LearnedPositionalEmbedding(sequence_length=32)
    positions = layer(tokens)
    assert positions.shape == (2, 10, 16)
    # Both sequences get the same table rows.
    positions = keras.ops.convert_to_numpy(positions)
    np.testing.assert_allclose(positions[0], positions[1])
    ```
    """

    def __init__(
        self,
        sequence_length,
        initializer="glorot_uniform",
        mode="encoding",
        **kwargs,
    ):
        super().__init__(mode=mode, **kwargs)
        self.sequence_length = check_positive_int(
            self, "sequence_length", sequence_length
        )
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        dim = self._check_inputs(inputs_shape)[-1]
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, dim),
            initializer=self.initializer,
        )

    def call(self, inputs, start_index=0):
        shape = self._check_inputs(inputs.shape)
        self._check_start_index(start_index)
        check_feature_size(self, "inputs", shape, self.embeddings.shape[-1])
        length = shape[-2]
        if length is not None and isinstance(start_index, numbers.Integral):
            if start_index + length > self.sequence_length:
                raise ValueError(
                    f"{self.__class__.__name__}: `start_index` + length must be "
                    f"at most `sequence_length` (the size of the table); "
                    f"received start_index={start_index}, length={length}, "
                    f"sequence_length={self.sequence_length}."
                )
        if length is None:
            length = ops.shape(inputs)[-2]
        table = ops.convert_to_tensor(self.embeddings)
        encoding = ops.slice(
            table, (ops.cast(start_index, "int32"), 0), (length, shape[-1])
        )
        return self._finish(inputs, encoding)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
