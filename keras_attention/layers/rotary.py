"""`RotaryEmbedding`: RoPE as a layer, with keras-hub's arguments."""

import keras
from keras import ops

from keras_attention.core.positions import rotate_half
from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_int,
    check_positive_float,
)


@keras.saving.register_keras_serializable(package="keras_attention")
class RotaryEmbedding(ValidatedLayerMixin, keras.layers.Layer):
    r"""Rotary position embedding (RoPE, Su et al., 2021) of a query or key.

    Each pair of features $(x_i, x_{i + d/2})$ of the step at position $p$
    (the half-split layout of GPT-NeoX, LLaMA and keras-hub) is rotated by
    the angle $\theta_{p,i} = p / (s \cdot \lambda^{2i/d})$, with $\lambda$
    the `max_wavelength` and $s$ the `scaling_factor`:

    $$\begin{pmatrix} y_i \\ y_{i+d/2} \end{pmatrix} =
    \begin{pmatrix} \cos\theta_{p,i} & -\sin\theta_{p,i} \\
    \sin\theta_{p,i} & \cos\theta_{p,i} \end{pmatrix}
    \begin{pmatrix} x_i \\ x_{i+d/2} \end{pmatrix},
    \qquad i = 0, \dots, d/2 - 1.$$

    Rotated queries and keys have dot products $q_m \cdot k_n$ that depend on
    the positions only through $m - n$. The arguments and their meaning are
    keras-hub's `RotaryEmbedding` (its default `rope_type="linear"`); the
    rotation is `keras_attention.core.positions.rotate_half`, the one
    `MultiHeadAttention(position_embedding="rope")` applies. It runs in
    float32 and returns the input's dtype. The layer has no weights; a Keras
    mask passes through.

    Args:
        max_wavelength (float): the longest wavelength $\lambda$ of the
            rotations.
        scaling_factor (float): divides the positions (linear position
            interpolation, to stretch a trained context).
        sequence_axis (int): the axis of the steps in the inputs.
        feature_axis (int): the axis of the features (its size must be even).
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): a tensor with a batch axis first, a sequence axis and a
            feature axis, typically `(batch, T, dim)` or
            `(batch, T, heads, dim)`.
        start_index (int | Tensor): position of the first step (an int or a
            scalar tensor), for cached decoding.
        positions (Tensor | None): optional `(T,)` or `(batch, T)` positions of
            the steps; when given, `start_index` is ignored.

    Returns:
        A tensor of the inputs' shape and dtype: the rotated inputs.

    Example:

    ```python
    import numpy as np
    import keras_attention

    q = np.random.rand(2, 10, 4, 16).astype("float32")  # (batch, T, heads, dim)
    rope = keras_attention.RotaryEmbedding(max_wavelength=10000)
    assert rope(q).shape == (2, 10, 4, 16)
    # Position 7 onwards, as in a cached decoding step:
    step = rope(q[:, 7:8], start_index=7)
    np.testing.assert_allclose(step, rope(q)[:, 7:8], atol=1e-5)
    ```
    """

    def __init__(
        self,
        max_wavelength=10000,
        scaling_factor=1.0,
        sequence_axis=1,
        feature_axis=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_wavelength = check_positive_float(
            self, "max_wavelength", max_wavelength
        )
        self.scaling_factor = check_positive_float(
            self, "scaling_factor", scaling_factor
        )
        self.sequence_axis = check_int(self, "sequence_axis", sequence_axis)
        self.feature_axis = check_int(self, "feature_axis", feature_axis)
        self.supports_masking = True
        self.built = True

    def _axes(self, shape):
        name, rank = type(self).__name__, len(shape)
        axes = []
        for arg, axis in (
            ("sequence_axis", self.sequence_axis),
            ("feature_axis", self.feature_axis),
        ):
            if not -rank <= axis < rank or axis % rank == 0:
                raise ValueError(
                    f"{name}: `{arg}`={axis} is not an axis of `inputs` other "
                    f"than the batch axis; received inputs of shape "
                    f"{tuple(shape)} (rank {rank})."
                )
            axes.append(axis % rank)
        if axes[0] == axes[1]:
            raise ValueError(
                f"{name}: `sequence_axis` and `feature_axis` must be different "
                f"axes; received sequence_axis={self.sequence_axis}, "
                f"feature_axis={self.feature_axis} for inputs of rank {rank}."
            )
        dim = shape[axes[1]]
        if dim is not None and dim % 2:
            raise ValueError(
                f"{name}: the feature axis of `inputs` must have an even size "
                f"(its halves are rotated in pairs); received inputs of shape "
                f"{tuple(shape)} with {dim} features on axis {self.feature_axis}."
            )
        return axes

    def call(self, inputs, start_index=0, positions=None):
        shape = tuple(inputs.shape)
        if len(shape) < 3:
            raise ValueError(
                f"{type(self).__name__}: `inputs` must have a batch, a sequence "
                f"and a feature axis (rank >= 3); received shape {shape}."
            )
        sequence_axis, feature_axis = self._axes(shape)
        x = ops.moveaxis(inputs, (sequence_axis, feature_axis), (1, -1))
        moved = ops.shape(x)
        # rotate_half takes (batch, T, heads, dim): the other axes are heads.
        x = ops.reshape(x, (moved[0], moved[1], -1, moved[-1]))
        if positions is None:
            positions = ops.arange(moved[1], dtype="float32") + ops.cast(
                start_index, "float32"
            )
        else:
            if len(positions.shape) not in (1, 2):
                raise ValueError(
                    f"{type(self).__name__}: `positions` must be (T,) or "
                    f"(batch, T); received shape {tuple(positions.shape)}."
                )
        y = rotate_half(x, positions, self.max_wavelength, self.scaling_factor)
        y = ops.reshape(y, moved)
        return ops.moveaxis(y, (1, -1), (sequence_axis, feature_axis))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
                "sequence_axis": self.sequence_axis,
                "feature_axis": self.feature_axis,
            }
        )
        return config
