"""Token embedding plus positions, in keras-hub's argument order."""

import keras
from keras import ops

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_choice,
    check_integer_dtype,
    check_positive_int,
    check_rank,
    errors_as,
)
from keras_attention.layers.deprecation import rename_config, renamed
from keras_attention.layers.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
)

POSITIONS = ("learned", "sinusoidal", None)
# {old constructor argument: new}, accepted with a `DeprecationWarning`.
_RENAMED = {"position_encoding": "position_embedding"}


@keras.saving.register_keras_serializable(package="keras_attention")
class TokenAndPositionEmbedding(ValidatedLayerMixin, keras.layers.Layer):
    r"""Token embedding plus a positional encoding.

    $$x_p = \alpha\, E_{\mathrm{token}}[t_p] + PE_p,$$

    with $\alpha = \sqrt{\mathrm{embedding\_dim}}$ when `scale_embeddings=True`
    (Vaswani et al., 2017) and 1 otherwise, and $PE$ a
    `LearnedPositionalEmbedding` (`position_embedding="learned"`), a
    `SinusoidalPositionalEncoding` (`"sinusoidal"`) or nothing (`None`, for
    models whose attention carries positions: RoPE or ALiBi).

    Args:
        vocabulary_size (int): number of token ids.
        sequence_length (int): the longest sequence (size of a learned table).
        embedding_dim (int): size of the embeddings.
        position_embedding (str | None): `"learned"`, `"sinusoidal"` or `None`
            (the spelling of `MultiHeadAttention`, `SelfAttention` and the
            Transformer blocks; the former `position_encoding` still works, with
            a `DeprecationWarning`).
        mask_zero (bool): whether token id 0 is padding; the mask then flows to
            the attention layers downstream.
        scale_embeddings (bool): multiply token embeddings by
            `sqrt(embedding_dim)`.
        embeddings_initializer (str | keras.initializers.Initializer):
            initializer of the token table.
        max_wavelength (float): wavelength of the sinusoidal encoding.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): int token ids `(batch, length)` (float ids raise a
            `TypeError`).
        start_index (int | Tensor): position of the first token (cached
            decoding). With learned positions, `start_index + length` must be at
            most `sequence_length`.

    Returns:
        `(batch, length, embedding_dim)` in the layer's compute dtype.

    The attribute `position_embedding` is the positional sublayer (or
    `None`), as in keras-hub; the option's string is `position_embedding_type`.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    embed = keras_attention.TokenAndPositionEmbedding(
        vocabulary_size=100, sequence_length=16, embedding_dim=8, mask_zero=True
    )
    x = embed(np.array([[5, 7, 9, 0]]))
    assert x.shape == (1, 4, 8)
    mask = embed.compute_mask(np.array([[5, 7, 9, 0]]))
    assert keras.ops.convert_to_numpy(mask).tolist() == [[True, True, True, False]]
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        position_embedding="learned",
        mask_zero=False,
        scale_embeddings=False,
        embeddings_initializer="uniform",
        max_wavelength=10000,
        **kwargs,
    ):
        position_embedding = renamed(
            self,
            kwargs,
            "position_encoding",
            "position_embedding",
            position_embedding,
            "learned",
        )
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int(
            self, "vocabulary_size", vocabulary_size
        )
        self.sequence_length = check_positive_int(
            self, "sequence_length", sequence_length
        )
        self.embedding_dim = check_positive_int(self, "embedding_dim", embedding_dim)
        self.position_embedding_type = check_choice(
            self, "position_embedding", position_embedding, POSITIONS
        )
        self.mask_zero = bool(mask_zero)
        self.scale_embeddings = bool(scale_embeddings)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.max_wavelength = max_wavelength
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            mask_zero=mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        # The sublayer keeps this attribute name: saved weights are found by it.
        self.position_embedding = None
        if position_embedding == "learned":
            self.position_embedding = LearnedPositionalEmbedding(
                sequence_length, mode="add", dtype=self.dtype_policy, name="positions"
            )
        elif position_embedding == "sinusoidal":
            self.position_embedding = SinusoidalPositionalEncoding(
                max_wavelength, mode="add", dtype=self.dtype_policy, name="positions"
            )
        self.supports_masking = mask_zero

    @property
    def position_encoding(self):
        """Deprecated name of `position_embedding_type` (read-only)."""
        return self.position_embedding_type

    @classmethod
    def from_config(cls, config):
        # Configs saved before the rename load without a warning.
        return super().from_config(rename_config(cls, config, _RENAMED))

    def _check_ids(self, shape):
        check_rank(self, "inputs", tuple(shape), (2,), "(batch, length)")

    def build(self, inputs_shape):
        self._check_ids(inputs_shape)
        self.token_embedding.build(inputs_shape)
        if self.position_embedding is not None:
            self.position_embedding.build(tuple(inputs_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, inputs, start_index=0):
        self._check_ids(inputs.shape)
        check_integer_dtype(self, "inputs", inputs)
        x = self.token_embedding(inputs)
        if self.scale_embeddings:
            x = x * ops.cast(ops.sqrt(float(self.embedding_dim)), x.dtype)
        if self.position_embedding is not None:
            # The positional layer checks `start_index` and the length
            # against its table; its errors name this layer.
            with errors_as(self, self.position_embedding):
                x = self.position_embedding(x, start_index=start_index)
        return x

    def compute_mask(self, inputs, mask=None):
        return self.token_embedding.compute_mask(inputs, mask)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "position_embedding": self.position_embedding_type,
                "mask_zero": self.mask_zero,
                "scale_embeddings": self.scale_embeddings,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
                "max_wavelength": self.max_wavelength,
            }
        )
        return config
