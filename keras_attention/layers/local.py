"""Local attention (Luong et al., 2015, section 3.2): local-m and local-p."""

import keras
from keras import ops

from keras_attention.core.masking import window_around
from keras_attention.core.scores import resolve_score
from keras_attention.core.validation import (
    check_choice,
    check_positive_int,
    check_required_value,
    check_shape,
)
from keras_attention.layers.multiplicative import MultiplicativeAttention

# The canonical scores local attention computes (`"concat"` is `"additive"`).
SCORES = ("dot", "scaled_dot", "general", "additive")
MODES = ("monotonic", "predictive")


@keras.saving.register_keras_serializable(package="keras_attention")
class LocalAttention(MultiplicativeAttention):
    r"""Local attention (Luong et al., 2015, §3.2): a window around an aligned position.

    Each decoder state $h_t$ attends only to the source positions within
    `window_width` $D$ of an aligned position $p_t$, with one of Luong's
    scores (`"dot"`, `"scaled_dot"`, `"general"` or `"concat"`):

    $$a_t(s) = \frac{\exp \mathrm{score}(h_t, \bar h_s)}
    {\sum_{|s' - p_t| \le D} \exp \mathrm{score}(h_t, \bar h_{s'})}
    \quad (|s - p_t| \le D,\ 0 \text{ elsewhere}), \qquad
    c_t = \textstyle\sum_s a_t(s)\, \bar h_s.$$

    - `mode="monotonic"` (local-m): $p_t = t$, the query's own index (or
      the `positions` given at call time, required for a single decoder
      step).
    - `mode="predictive"` (local-p): the layer predicts
      $p_t = (S - 1)\,\sigma(v_p^\top \tanh(W_p h_t))$, with $S$ the number
      of unmasked source steps (padding is assumed to be at the end, as
      Keras masks make it; the paper writes $S \cdot \sigma(\cdot)$ with
      positions $1..S$), and multiplies the weights by a Gaussian centred
      there, $\sigma = D/2$:

      $$a_t(s) \leftarrow a_t(s)\, \exp\Big(-\frac{(s - p_t)^2}{2\sigma^2}\Big).$$

      $p_t$ is real-valued and is not rounded (the paper's window
      $[p_t - D, p_t + D]$): the window is every integer $s$ with
      $|s - p_t| \le D$, so it holds $2D$ or $2D + 1$ steps.
      The Gaussian makes $p_t$ differentiable, so $W_p$ and $v_p$ train.
      As in the paper, the weights are not renormalised afterwards: they sum
      to less than 1.

    Windows are clipped at the edges of the source; source padding is never
    attended to, and a window with no valid key gives zero weights and a
    zero context (never NaN). The window is applied as a mask on the full
    `(Tq, Tk)` scores, which is what sentence-length sources need; for long
    self-attention windows use `MultiHeadAttention(window=...)`, which runs
    blockwise.

    Args:
        window_width (int): $D$, the half-width of the window (the window holds
            up to $2D + 1$ source steps).
        mode (str): `"monotonic"` (local-m) or `"predictive"` (local-p).
        score (str): `"dot"`, `"scaled_dot"`, `"general"` or `"concat"`.
        units (int | None): hidden size of the `"concat"` score (default: the
            key size).
        position_units (int | None): size of $W_p$'s output in local-p (default:
            the query size).
        use_scale (bool): multiply the scores by a learned scalar.
        dropout (float): fraction of the attention weights to drop during
            training.
        seed (int | None): seed of that dropout.
        kernel_initializer (str | keras.initializers.Initializer): for the
            score's matrices and $W_p$, $v_p$.
        kernel_regularizer (str | keras.regularizers.Regularizer | None): for
            the same matrices.
        kernel_constraint (str | keras.constraints.Constraint | None): for the
            same matrices.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query (Tensor): `(batch, Tq, dq)`, or `(batch, dq)` for a single decoder
            step.
        value (Tensor): `(batch, S, dv)`, the encoder outputs.
        key (Tensor | None): optional `(batch, S, dk)`; defaults to `value`.
        positions (Tensor | None): local-m only: the aligned positions $p_t$,
            `(batch, Tq)` (or `(batch,)` for a single step; required then).
            Default: the query indices `0..Tq-1`.
        query_mask, value_mask, key_mask, attention_mask (Tensor | None): as in
            `MultiplicativeAttention`.
        use_causal_mask (bool): as in `MultiplicativeAttention`.
        return_attention_scores (bool): also return the weights.
        return_positions (bool): also return $p_t$ (float32).
        training (bool | None): whether dropout is active.

    Returns:
        The context `(batch, Tq, dv)` (or `(batch, dv)`); then the weights
        `(batch, Tq, S)` if `return_attention_scores`; then the positions
        `(batch, Tq)` if `return_positions` (without the `Tq` axis for a
        single step).

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    decoder_states = np.random.rand(2, 4, 16).astype("float32")
    encoder_outputs = np.random.rand(2, 9, 16).astype("float32")
    attention = keras_attention.LocalAttention(window_width=2, mode="predictive")
    context, weights, positions = attention(
        decoder_states,
        encoder_outputs,
        return_attention_scores=True,
        return_positions=True,
    )
    assert context.shape == (2, 4, 16) and weights.shape == (2, 4, 9)
    assert positions.shape == (2, 4)
    positions = keras.ops.convert_to_numpy(positions)
    weights = keras.ops.convert_to_numpy(weights)
    far = np.abs(np.arange(9) - positions[..., None]) > 2
    assert np.all(weights[far] == 0)  # nothing outside the window
    ```
    """

    def __init__(
        self,
        window_width,
        mode="predictive",
        score="general",
        units=None,
        position_units=None,
        use_scale=False,
        **kwargs,
    ):
        resolve_score(self, score, SCORES)
        super().__init__(score=score, use_scale=use_scale, units=units, **kwargs)
        check_required_value(
            self,
            "query_chunk_size",
            self.query_chunk_size,
            None,
            "(its window already bounds the work per query: it does not chunk queries)",
        )
        self.window_width = check_positive_int(self, "window_width", window_width)
        self.mode = check_choice(self, "mode", mode, MODES)
        self.position_units = check_positive_int(
            self, "position_units", position_units, allow_none=True
        )

    def build_score(self, query_dim, key_dim, value_dim):
        super().build_score(query_dim, key_dim, value_dim)
        if self.mode == "predictive":
            units = self.position_units or query_dim
            self.position_kernel = self.add_kernel(
                "position_kernel", (query_dim, units)
            )
            self.position_v = self.add_kernel("position_v", (units,))

    def _predict_positions(self, query, key_padding, key_length):
        hidden = ops.tanh(ops.matmul(query, self.position_kernel))
        logits = ops.cast(ops.matmul(hidden, self.position_v), "float32")
        if key_padding is None:
            length = ops.cast(key_length, "float32")
        else:
            length = ops.sum(ops.cast(key_padding, "float32"), axis=-1, keepdims=True)
        return ops.maximum(length - 1.0, 0.0) * ops.sigmoid(logits)

    def _check_positions(self, positions, query_shape):
        name = self.__class__.__name__
        if self.mode == "predictive":
            if positions is not None:
                raise ValueError(
                    f"{name}: `positions` must be None with mode='predictive' "
                    f"(the layer predicts its positions; `positions` is for "
                    f"mode='monotonic'); received `positions` of shape "
                    f"{tuple(positions.shape)}."
                )
            return
        single_step = len(query_shape) == 2
        if positions is None and single_step:
            raise ValueError(
                f"{name}: `positions` is required with mode='monotonic' for a "
                f"single decoder step (the aligned source position of each "
                f"batch item, shape (batch,)); received positions=None."
            )
        if positions is not None and len(positions.shape):  # scalars broadcast
            expected = tuple(query_shape[: 1 if single_step else 2])
            check_shape(self, "positions", positions.shape, expected)

    def call(
        self,
        query,
        value,
        key=None,
        *,
        positions=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        attention_bias=None,
        use_causal_mask=False,
        return_attention_scores=False,
        return_positions=False,
        training=None,
    ):
        single_step = len(query.shape) == 2
        if positions is not None:
            positions = ops.convert_to_tensor(positions)
        self._check_positions(positions, tuple(query.shape))
        width = float(self.window_width)

        def locate(query, key_padding):
            # `query` is (batch, Tq, dq) here, single steps included.
            key_length = ops.shape(value)[1]
            if self.mode == "predictive":
                centre = self._predict_positions(query, key_padding, key_length)
            elif positions is None:
                steps = ops.cast(ops.arange(ops.shape(query)[1]), "float32")
                centre = ops.zeros(ops.shape(query)[:2], "float32") + steps
            else:
                centre = ops.cast(positions, "float32")
                centre = ops.reshape(centre, (-1, 1)) if single_step else centre
                centre = centre + ops.zeros(ops.shape(query)[:2], "float32")
            window, distance = window_around(centre, key_length, width)
            weights_fn = None
            if self.mode == "predictive":
                sigma = width / 2.0
                gaussian = ops.exp(-ops.square(distance) / (2.0 * sigma**2))

                def weights_fn(weights):
                    return weights * gaussian

            return window, weights_fn, (centre,) if return_positions else ()

        return self._call_attention(
            query,
            value,
            key,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            attention_bias=attention_bias,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_attention_scores,
            training=training,
            locate=locate,
        )

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        *,
        return_attention_scores=False,
        return_positions=False,
        **kwargs,
    ):
        spec = super().compute_output_spec(
            query, value, key, return_attention_scores=return_attention_scores
        )
        if not return_positions:
            return spec
        specs = list(spec) if return_attention_scores else [spec]
        specs.append(keras.KerasTensor(tuple(query.shape[:-1]), dtype="float32"))
        return tuple(specs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "window_width": self.window_width,
                "mode": self.mode,
                "position_units": self.position_units,
            }
        )
        return config
