"""`BaseAttention`: the base of the single-head attention layers.

It builds on `AttentionLayer` (`layers/attention_layer.py`, the base of
every attention layer) and owns everything that is the same for Bahdanau,
Luong and the other single-head mechanisms: input and mask validation, the
single decoder step form, combining Keras masks with `attention_mask` and
the causal mask, dropout on the weights, query chunking, output shapes and
specs. A subclass only creates its score weights (`build_score`) and says
how to score (`score`), optionally projecting queries and keys once first
(`project`).
"""

import keras
from keras import ops

from keras_attention.core.attend import attend
from keras_attention.core.masking import (
    attention_mask_and_bias,
    combine_masks,
    compute_attention_mask,
    inert_inputs,
)
from keras_attention.core.validation import (
    check_feature_size,
    check_features_known,
    check_positive_int,
    check_query_value_key,
    check_rate,
    check_seed,
)
from keras_attention.layers.attention_layer import AttentionLayer, pack


class BaseAttention(AttentionLayer):
    """Base class of the single-head query/value attention layers.

    Args:
        dropout (float): fraction of the attention weights to drop during
            training.
        query_chunk_size (int | None): if set, process queries in chunks of
            this size so that score intermediates are bounded by
            `query_chunk_size * Tk` rows instead of `Tq * Tk` (see
            `keras_attention.core.attend`).
        kernel_initializer (str | keras.initializers.Initializer): of the
            score's matrices and vectors.
        bias_initializer (str | keras.initializers.Initializer): of its biases.
        kernel_regularizer (str | keras.regularizers.Regularizer | None): of
            the score's matrices and vectors.
        bias_regularizer (str | keras.regularizers.Regularizer | None): of its
            biases.
        kernel_constraint (str | keras.constraints.Constraint | None): of the
            score's matrices and vectors.
        bias_constraint (str | keras.constraints.Constraint | None): of its
            biases.
        seed (int | None): seed of the dropout on the weights, as in Keras'
            `Attention(seed=...)`.
        **kwargs (Any): base `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    def __init__(
        self,
        dropout=0.0,
        query_chunk_size=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_weight_settings(
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.dropout = check_rate(self, "dropout", dropout)
        self.query_chunk_size = check_positive_int(
            self, "query_chunk_size", query_chunk_size, allow_none=True
        )
        self.seed = check_seed(self, seed)
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(
            self.dropout, seed=self.seed, dtype="float32"
        )

    # ----------------------------------------------------------- subclass API
    def build_score(self, query_dim, key_dim, value_dim):
        """Create the score weights. `query_dim`/`key_dim` are feature sizes."""

    def check_shapes(self, query_shape, key_shape, value_shape):
        """Raise `ValueError` if the input shapes do not fit the score."""

    def project(self, query, key):
        """Transform queries and keys once, before any chunking."""
        return query, key

    def score(self, query, key):
        """Return float32 scores `(batch, Tq, Tk)` for projected inputs."""
        raise NotImplementedError

    def can_fuse(self, training, return_attention_scores):
        """Whether `fused_call` may replace the explicit-weights path."""
        return False

    def fused_call(self, query, key, value, mask, bias=None):
        """Attention output through a fused kernel (see `can_fuse`)."""
        raise NotImplementedError

    # ------------------------------------------------------------- validation
    def _check_shapes(self, query_shape, value_shape, key_shape=None):
        shapes = check_query_value_key(
            self, query_shape, value_shape, key_shape, single_step=True
        )
        query_shape, value_shape, key_shape = shapes
        self.check_shapes(query_shape, key_shape, value_shape)
        if self.built and getattr(self, "_built_dims", None):
            for arg, shape in zip(("query", "value", "key"), shapes, strict=True):
                check_feature_size(self, arg, shape, self._built_dims[arg])
        return shapes

    # ------------------------------------------------------------------ Keras
    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, key_shape = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        check_features_known(
            self, {"query": query_shape, "value": value_shape, "key": key_shape}
        )
        self.build_score(query_shape[-1], key_shape[-1], value_shape[-1])
        self._built_dims = {
            "query": query_shape[-1],
            "value": value_shape[-1],
            "key": key_shape[-1],
        }
        self.built = True

    def call(
        self,
        query,
        value,
        key=None,
        *,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        attention_bias=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
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
        )

    def _call_attention(
        self,
        query,
        value,
        key=None,
        *,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        attention_bias=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        locate=None,
    ):
        """`call`, with an extension point for position-dependent attention.

        `locate(query, key_mask)`, given the `(batch, Tq, dq)` query and the
        `(batch, Tk)` key padding mask (or `None`), returns `(mask,
        weights_fn, extras)`: a boolean mask broadcastable to `(batch, Tq,
        Tk)` combined with the others, a function applied to the float32
        weights after the softmax (or `None`), and extra outputs appended to
        the results. Query chunking and the fused path are not used then.
        """
        if key is None:
            key, key_mask = value, None
        masks = (query_mask, value_mask, key_mask)
        self._check_call(query, value, key, masks, (attention_mask, attention_bias))
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
            if query_mask is not None:
                query_mask = ops.reshape(query_mask, (-1, 1))
        attention_mask, bias = attention_mask_and_bias(
            attention_mask, attention_bias, heads=False
        )
        query, value, key = inert_inputs(
            query, value, key, query_mask, value_mask, key_mask, attention_mask
        )
        mask = compute_attention_mask(
            ops.shape(query)[1],
            ops.shape(value)[1],
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
        )
        weights_fn, extras = None, ()
        if locate is not None:
            located_mask, weights_fn, extras = locate(
                query, combine_masks(value_mask, key_mask)
            )
            mask = combine_masks(mask, located_mask)
        if locate is None and self.can_fuse(training, return_attention_scores):
            output, weights = self.fused_call(query, key, value, mask, bias), None
        else:
            output, weights = self._explicit_attention(
                query,
                key,
                value,
                mask,
                bias,
                weights_fn,
                training,
                return_attention_scores,
                chunked=locate is None,
            )
        results = [ops.cast(output, self.compute_dtype)]
        if return_attention_scores:
            results.append(ops.cast(weights, self.compute_dtype))
        results.extend(extras)
        if single_step:
            results = [ops.squeeze(x, 1) for x in results]
        return pack(results)

    def _check_call(self, query, value, key, masks, attention):
        _, value_shape, _ = self._check_shapes(query.shape, value.shape, key.shape)
        self.check_masks(
            query, value, key, masks, attention, heads=1, key_length=value_shape[1]
        )

    def _explicit_attention(
        self,
        query,
        key,
        value,
        mask,
        bias,
        weights_fn,
        training,
        return_weights,
        chunked,
    ):
        """Project, score, softmax, `weights_fn` and dropout, `weights @ v`
        (`core.attend.attend`), in query chunks when `chunked` and the layer
        has a `query_chunk_size`. Returns `(output, weights or None)`."""
        projected_query, projected_key = self.project(query, key)
        dropout_fn = None
        if self.dropout > 0 or weights_fn is not None:

            def dropout_fn(weights):
                if weights_fn is not None:
                    weights = weights_fn(weights)
                if self.dropout > 0:
                    weights = self._dropout_layer(weights, training=training)
                return weights

        score_fn, score_args = self.score, ()
        chunk_size = self.query_chunk_size if chunked else None
        if chunk_size:
            score_fn, score_args = self._score_with_explicit_weights()
        result = attend(
            projected_query,
            projected_key,
            value,
            score_fn,
            mask=mask,
            dropout_fn=dropout_fn,
            query_chunk_size=chunk_size,
            return_weights=return_weights,
            score_args=score_args,
            bias=bias,
        )
        return result if return_weights else (result, None)

    def _score_with_explicit_weights(self):
        """`self.score` as a function of the layer's weight values.

        Query chunks are rematerialised (`keras.remat`), and TensorFlow's
        `tf.recompute_grad` does not differentiate correctly with respect to
        variables read inside the recomputed function. So the weights are
        read here, once, and passed in as tensors; inside, a
        `keras.StatelessScope` makes `self.score` see those tensors as the
        variables' values.
        """
        variables = list(self.weights)
        values = tuple(variable.value for variable in variables)

        def score_fn(query, key, *weight_values):
            mapping = list(zip(variables, weight_values, strict=True))
            with keras.StatelessScope(mapping, initialize_variables=False):
                return self.score(query, key)

        return score_fn, values

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, _ = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        *,
        return_attention_scores=False,
        **kwargs,
    ):
        output_shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        if not return_attention_scores:
            return self.output_specs(output_shape)
        weights_shape = tuple(query.shape[:-1]) + (value.shape[1],)
        return self.output_specs(output_shape, weights_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout": self.dropout,
                "query_chunk_size": self.query_chunk_size,
                "seed": self.seed,
                **self._weight_settings_config(),
            }
        )
        return config
