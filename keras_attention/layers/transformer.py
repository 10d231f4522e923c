"""Transformer encoder and decoder blocks built on `MultiHeadAttention`.

The classes are named as in keras-hub, `TransformerEncoder` and
`TransformerDecoder`, and take keras-hub's arguments with keras-hub's meaning;
`TransformerEncoderBlock` and `TransformerDecoderBlock` (their names before)
are the same classes, and models saved under those registered names load.

The blocks are defined in `layers/transformer_encoder.py` and
`layers/transformer_decoder.py`, on the base in `layers/transformer_block.py`;
this module is their public one.
"""

import keras

from keras_attention.layers.transformer_decoder import TransformerDecoder
from keras_attention.layers.transformer_encoder import TransformerEncoder

__all__ = [
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
]

# The names these blocks had before keras-hub's: aliases of the same classes.
TransformerEncoderBlock = TransformerEncoder
TransformerDecoderBlock = TransformerDecoder


def _legacy(cls, old):
    """The class that `.keras` files saved under the old name load as.

    Keras finds a layer's weights in a `.keras` file by its class name
    (`layers/transformer_encoder_block/...` in files saved before the
    rename), so a file saved under the registered name
    `keras_attention>TransformerEncoderBlock` loads as this subclass, named
    as before, with the same code; it saves under the old names again.
    """
    legacy = type(
        old,
        (cls,),
        {
            "__doc__": f"`{cls.__name__}` loaded from a file saved as `{old}`.",
            "__module__": cls.__module__,
            "_renamed_to": cls,
        },
    )
    return keras.saving.register_keras_serializable("keras_attention", old)(legacy)


_LEGACY_CLASSES = (
    _legacy(TransformerEncoder, "TransformerEncoderBlock"),
    _legacy(TransformerDecoder, "TransformerDecoderBlock"),
)
