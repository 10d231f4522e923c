"""`TransformerDecoder`: a decoder block (or a GPT block), with KV caches."""

import keras
from keras import ops

from keras_attention.core.validation import check_batch_sizes, check_mask, check_rank
from keras_attention.layers.attention_layer import pack
from keras_attention.layers.shared_docs import fill_docstring
from keras_attention.layers.transformer_block import BlockBase


@keras.saving.register_keras_serializable(package="keras_attention")
@fill_docstring
class TransformerDecoder(BlockBase):
    r"""A Transformer decoder block; without an encoder sequence, a GPT block.

    Causal self-attention, cross-attention over the encoder sequence (only
    when the block is built with one), and a feed-forward network, each in a
    residual branch with post- or pre-norm (`normalize_first`):

    $$h_1 = x + \mathrm{MHA}_{\mathrm{causal}}(x, x), \quad
    h_2 = h_1 + \mathrm{MHA}(h_1, e), \quad
    y = h_2 + \mathrm{FFN}(h_2)$$

    (normalisations omitted). For incremental decoding pass a
    `self_attention_cache` and its update index, and, as in keras-hub, a
    `cross_attention_cache` of the encoder sequence's projected keys and
    values; the updated caches come after the outputs (see Returns).

    Args:
        {{transformer_arguments}}

    Call arguments:
        decoder_sequence (Tensor): `(batch, length, hidden)`.
        encoder_sequence (Tensor | None): optional `(batch, source_length,
            encoder_hidden)`; required if the block was built with one.
        decoder_padding_mask (Tensor | None): optional boolean `(batch,
            length)`; filled from the decoder sequence's Keras mask when not
            given.
        decoder_attention_mask (Tensor | None): optional boolean `(batch,
            length, keys)` mask of the self-attention (`keys` is `length`, or
            the cache's `max_length` with a cache), combined with the causal
            mask.
        encoder_padding_mask (Tensor | None): optional boolean `(batch,
            source_length)`; filled from the encoder sequence's Keras mask when
            not given.
        encoder_attention_mask (Tensor | None): optional boolean `(batch,
            length, source_length)` mask of the cross-attention.
        use_causal_mask (bool): causal self-attention (default `True`).
        self_attention_cache (Tensor | None): optional KV cache of the
            self-attention.
        self_attention_cache_update_index (int | Tensor | None): position of the
            first new step.
        cross_attention_cache (Tensor | None): optional cache of the
            cross-attention's keys and values (with `self_attention_cache`).
        cross_attention_cache_update_index (int | None): `0` to compute the
            cross-attention cache from `encoder_sequence` (written from that
            position), `None` to reuse it.
        return_attention_scores (bool): also return the attention weights (the
            explicit, slower path of `MultiHeadAttention`).
        training (bool | None): whether dropout is active.

    Returns:
        `(batch, length, hidden)`; with `return_attention_scores`, a dict of
        each head's weights, `{"self_attention": (batch, heads, length,
        keys), "cross_attention": (batch, heads, length, source_length)}`;
        then the updated cache(s), self-attention's before cross-attention's.

    Example:

    ```python
    import numpy as np
    import keras_attention

    target = np.random.rand(2, 6, 32).astype("float32")
    source = np.random.rand(2, 9, 16).astype("float32")
    block = keras_attention.TransformerDecoder(intermediate_dim=64, num_heads=4)
    assert block(target, source).shape == (2, 6, 32)
    gpt_block = keras_attention.TransformerDecoder(64, 4, normalize_first=True)
    assert gpt_block(target).shape == (2, 6, 32)
    ```
    """

    _ARGUMENTS = {
        "self_attention": {
            "query": "decoder_sequence",
            "value": "decoder_sequence",
            "key": "decoder_sequence",
            "query_mask": "decoder_padding_mask",
            "value_mask": "decoder_padding_mask",
            "cache": "self_attention_cache",
            "cache_update_index": "self_attention_cache_update_index",
        },
        "cross_attention": {
            "query": "decoder_sequence",
            "value": "encoder_sequence",
            "key": "encoder_sequence",
            "query_mask": "decoder_padding_mask",
            "value_mask": "encoder_padding_mask",
        },
    }

    def _check_sequences(self, decoder_shape, encoder_shape):
        self._check_sequence("decoder_sequence", decoder_shape)
        if encoder_shape is not None:
            check_rank(
                self,
                "encoder_sequence",
                tuple(encoder_shape),
                (3,),
                "(batch, source_length, encoder_hidden)",
            )
            check_batch_sizes(
                self,
                {"decoder_sequence": decoder_shape, "encoder_sequence": encoder_shape},
            )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        shape = decoder_sequence_shape
        self._check_sequences(shape, encoder_sequence_shape)
        hidden = self._hidden_dim("decoder_sequence", shape)
        self._build_attention("self_attention", shape, shape, hidden)
        self.cross_attention = None
        if encoder_sequence_shape is not None:
            self._build_attention(
                "cross_attention", shape, encoder_sequence_shape, hidden
            )
        self._build_feedforward(shape)
        self.built = True

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        *,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        return_attention_scores=False,
        decoder_attention_mask=None,
        encoder_attention_mask=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
        training=None,
        decoder_sequence_mask=None,
        encoder_sequence_mask=None,
        mask=None,
    ):
        self._check_call(
            decoder_sequence,
            encoder_sequence,
            self_attention_cache,
            cross_attention_cache,
            cross_attention_cache_update_index,
        )
        if decoder_padding_mask is None:
            # Keras fills `decoder_sequence_mask` when the call has several
            # tensors, and `mask` when the decoder sequence is the only one.
            decoder_padding_mask = (
                decoder_sequence_mask if decoder_sequence_mask is not None else mask
            )
        if encoder_padding_mask is None:
            encoder_padding_mask = encoder_sequence_mask
        decoder_sequence = self._inert(
            "decoder_padding_mask", decoder_sequence, decoder_padding_mask
        )
        cached = self_attention_cache is not None
        # A cached step is the inner loop of generation: skip the sublayers'
        # `__call__` bookkeeping where it cannot change the result.
        direct = cached and self._sublayers_callable_directly(training)
        options = {
            "direct": direct,
            "return_attention_scores": return_attention_scores,
            "training": training,
        }
        x, extra = self._self_attention_branch(
            decoder_sequence,
            options,
            decoder_padding_mask,
            self_attention_cache,
            self_attention_cache_update_index,
            attention_mask=decoder_attention_mask,
            use_causal_mask=use_causal_mask,
        )
        scores = {"self_attention": extra[0]} if return_attention_scores else None
        if encoder_sequence is not None:
            x, cross_scores = self._cross_attention_branch(
                x,
                options,
                encoder_sequence,
                None if cached else decoder_padding_mask,
                encoder_padding_mask,
                encoder_attention_mask,
                cross_attention_cache,
                cross_attention_cache_update_index,
            )
            if return_attention_scores:
                scores["cross_attention"] = cross_scores
        x = self._feedforward(x, training, direct)
        return self._outputs(
            x,
            scores,
            extra[-1] if cached else None,
            encoder_sequence,
            cross_attention_cache,
            cross_attention_cache_update_index,
        )

    def _check_call(self, decoder, encoder, cache, cross_cache, cross_index):
        """The sequences, and which caches go together (in the call's names)."""
        has_encoder = encoder is not None
        self._check_sequences(decoder.shape, encoder.shape if has_encoder else None)
        name = type(self).__name__
        if has_encoder != (self.cross_attention is not None):
            raise ValueError(
                f"{name}: `encoder_sequence` must be given if "
                "and only if the block was built with one (it has "
                f"{'a' if self.cross_attention is not None else 'no'} "
                "cross-attention)."
            )
        if cross_cache is not None and not has_encoder:
            raise ValueError(
                f"{name}: `cross_attention_cache` needs an `encoder_sequence` "
                "(a block without cross-attention has no cross-attention cache)."
            )
        if cross_cache is not None and cache is None:
            raise ValueError(
                f"{name}: `cross_attention_cache` was given without a "
                "`self_attention_cache`; pass both (as in keras-hub) or only "
                "the self-attention cache."
            )
        if cross_index is not None and cross_cache is None:
            raise ValueError(
                f"{name}: `cross_attention_cache_update_index` was given "
                "without a `cross_attention_cache`; received "
                "cross_attention_cache=None, cross_attention_cache_update_index="
                f"{cross_index!r}."
            )

    def _call_attention(self, name, *args, direct, **kwargs):
        """Call the attention sublayer `name`: `(outputs, what follows them)`.

        Its errors are reported in the block's names; `direct` calls it by
        `call` (see `_sublayers_callable_directly`).
        """
        attention = getattr(self, name)
        with self._sublayer_errors(name):
            result = (attention.call if direct else attention)(*args, **kwargs)
        if not isinstance(result, tuple):
            return result, ()
        return result[0], result[1:]  # (scores?, cache?), in that order

    def _self_attention_branch(self, x, options, padding_mask, cache, index, **kw):
        """`x` through the self-attention residual: `(x, (scores?, cache?))`."""
        if cache is None:
            masks = {"query_mask": padding_mask, "value_mask": padding_mask}
        else:
            # The decoder sequence's padding, passed explicitly: `y` is the
            # zeroed sequence and carries no Keras mask (a cached call
            # ignores value masks).
            masks = {"cache": cache, "cache_update_index": index}
            masks["query_mask"] = padding_mask

        def attend(y):
            return self._call_attention(
                "self_attention", y, y, **masks, **kw, **options
            )

        return self._residual(
            "self_attention", x, attend, options["training"], options["direct"]
        )

    def _cross_attention_branch(
        self, x, options, encoder_sequence, query_mask, padding_mask, mask, cache, index
    ):
        """`x` through the cross-attention residual: `(x, scores or None)`.

        The keys and values come from `cache` if one is given to be reused
        (no `index`), else from the encoder sequence (a cache to be filled
        at `index` is filled after the call, in `_outputs`).
        """
        reuse = cache is not None and index is None

        def attend(y):
            kwargs = {"value_mask": padding_mask, "attention_mask": mask}
            if reuse:
                # The cache keeps no value mask: the encoder padding goes in
                # the attention mask.
                kwargs = {
                    "attention_mask": self._cross_mask(y, padding_mask, mask),
                    "cache": cache,
                }
            output, rest = self._call_attention(
                "cross_attention",
                y,
                encoder_sequence,
                query_mask=query_mask,
                **kwargs,
                **options,
            )
            # What follows the outputs: the scores if asked for, then the
            # (unchanged) cache, which the block drops.
            return output, rest[0] if options["return_attention_scores"] else None

        return self._residual(
            "cross_attention", x, attend, options["training"], options["direct"]
        )

    def _outputs(self, x, scores, cache, encoder_sequence, cross_cache, cross_index):
        """The call's results: `x`, then those of `scores` (the dict), `cache`
        (the updated self-attention cache) and `cross_cache` (filled from
        `encoder_sequence` where `cross_index` is given) that are not `None`.
        """
        if cross_cache is not None and cross_index is not None:
            cross_cache = self._fill_cross_cache(
                encoder_sequence, cross_cache, cross_index
            )
        return pack(r for r in (x, scores, cache, cross_cache) if r is not None)

    def _cross_mask(self, query, encoder_padding_mask, encoder_attention_mask):
        """The cross-attention's explicit mask, encoder padding included."""
        if encoder_padding_mask is None:
            return encoder_attention_mask
        check_mask(
            self,
            "encoder_padding_mask",
            encoder_padding_mask,
            (query.shape[0], None),
        )
        padding = ops.expand_dims(ops.cast(encoder_padding_mask, "bool"), 1)
        if encoder_attention_mask is None:
            shape = ops.shape(padding)
            return ops.broadcast_to(padding, (shape[0], ops.shape(query)[1], shape[2]))
        return ops.logical_and(ops.cast(encoder_attention_mask, "bool"), padding)

    def _fill_cross_cache(self, encoder_sequence, cache, index):
        """`cache` with the encoder sequence's keys and values from `index`."""
        attention = self.cross_attention

        def project(kernel, bias):
            x = ops.einsum("btd,dhk->bthk", encoder_sequence, kernel)
            return x if bias is None else x + bias

        keys = project(attention.key_kernel, attention.key_bias)
        values = project(attention.value_kernel, attention.value_bias)
        new = ops.cast(ops.stack([keys, values], axis=1), cache.dtype)
        return ops.slice_update(cache, [0, 0, index, 0, 0], new)

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return tuple(decoder_sequence_shape)

    def compute_output_spec(self, decoder_sequence, encoder_sequence=None, **kwargs):
        output = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        results = (output,)
        cache = kwargs.get("self_attention_cache")
        if kwargs.get("return_attention_scores"):
            batch, length = decoder_sequence.shape[:2]
            keys = length if cache is None else cache.shape[2]
            heads = self.num_heads
            scores = {
                "self_attention": keras.KerasTensor(
                    (batch, heads, length, keys), dtype=self.compute_dtype
                )
            }
            if encoder_sequence is not None:
                scores["cross_attention"] = keras.KerasTensor(
                    (batch, heads, length, encoder_sequence.shape[1]),
                    dtype=self.compute_dtype,
                )
            results += (scores,)
        if cache is not None:
            results += (keras.KerasTensor(cache.shape, dtype=cache.dtype),)
        cross_cache = kwargs.get("cross_attention_cache")
        if cross_cache is not None:
            results += (keras.KerasTensor(cross_cache.shape, dtype=cross_cache.dtype),)
        return pack(results)
