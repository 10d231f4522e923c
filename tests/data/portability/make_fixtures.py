"""Make this version's portability fixtures on the current backend.

    KERAS_BACKEND=jax .venv/bin/python tests/data/portability/make_fixtures.py
    KERAS_BACKEND=tensorflow .venv/bin/python tests/data/portability/make_fixtures.py
    KERAS_BACKEND=torch .venv/bin/python tests/data/portability/make_fixtures.py

Each run writes `<version>/<backend>.keras` (one small functional model that
uses every public layer of `keras_attention`) and `<version>/<backend>.npz`
(its inputs, `input_<name>`, and its predictions, `output_<name>`), where
`<version>` is `v` + `keras_attention.__version__`. `tests/test_portability.py`
loads every saved model on every backend and checks that it predicts the
stored outputs. Existing files are never overwritten: the fixtures of a
released version are frozen (see README.md).

`build_model()` is also imported by the test's save-and-reload round trip.
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:  # torch before TensorFlow, as Keras' own suite does (see tests/conftest.py)
    import torch  # noqa: F401
except ImportError:
    pass

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_attention as ka  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SEED = 20260101
BATCH, SOURCE_LENGTH, TARGET_LENGTH = 3, 7, 6
VOCABULARY, DIM, HEADS, KEY_DIM, FFN = 20, 8, 2, 4, 16


def make_inputs(seed=SEED):
    """Token ids in 1..VOCABULARY-1: no 0, so no padding anywhere."""
    rng = np.random.default_rng(seed)
    return {
        "source": rng.integers(1, VOCABULARY, (BATCH, SOURCE_LENGTH), "int32"),
        "target": rng.integers(1, VOCABULARY, (BATCH, TARGET_LENGTH), "int32"),
    }


def build_model():
    """One functional model over every public layer; a dict of named outputs."""
    source = keras.Input((SOURCE_LENGTH,), dtype="int32", name="source")
    target = keras.Input((TARGET_LENGTH,), dtype="int32", name="target")

    # Embeddings and positions.
    learned = ka.TokenAndPositionEmbedding(
        VOCABULARY, SOURCE_LENGTH, DIM, position_embedding="learned", name="tpe_learned"
    )(source)
    tokens = keras.layers.Embedding(VOCABULARY, DIM, name="token_embedding")(source)
    positions = ka.SinusoidalPositionalEncoding(mode="add", name="sinusoidal")(tokens)
    positions = ka.LearnedPositionalEmbedding(
        SOURCE_LENGTH, mode="add", name="learned_positions"
    )(positions)
    encoder_inputs = keras.layers.Add(name="encoder_inputs")([learned, positions])
    decoder_inputs = ka.TokenAndPositionEmbedding(
        VOCABULARY,
        TARGET_LENGTH,
        DIM,
        position_embedding="sinusoidal",
        scale_embeddings=True,
        name="tpe_sinusoidal",
    )(target)

    # Transformer blocks: pre- and post-norm, RoPE, ALiBi, GQA, a window,
    # cross-attention and the encoder-free (GPT) decoder.
    encoded = ka.TransformerEncoder(
        FFN,
        HEADS,
        normalize_first=True,
        num_key_value_heads=1,
        window=3,
        position_embedding="rope",
        activation="gelu",
        name="encoder_rope_gqa_window",
    )(encoder_inputs)
    decoded = ka.TransformerDecoder(
        FFN, HEADS, position_embedding="alibi", name="decoder_cross_alibi"
    )(decoder_inputs, encoded)
    decoded = ka.TransformerDecoder(
        FFN, HEADS, normalize_first=True, name="decoder_gpt"
    )(decoded)

    outputs = {"encoder": encoded, "decoder": decoded}

    # Multi-head attention variants (bias-free: fewer variables, smaller files).
    mha = ka.MultiHeadAttention
    outputs["mha_gqa_cross"] = mha(
        4, KEY_DIM, num_key_value_heads=2, use_bias=False, name="mha_gqa_cross"
    )(decoded, encoded)
    outputs["mha_rope_causal"] = mha(
        HEADS, KEY_DIM, position_embedding="rope", use_bias=False, name="mha_rope"
    )(decoded, decoded, use_causal_mask=True)
    outputs["mha_alibi_window"] = mha(
        HEADS,
        KEY_DIM,
        position_embedding="alibi",
        window=2,
        use_bias=False,
        name="mha_alibi_window",
    )(encoded, encoded)
    outputs["mha_additive"] = mha(
        HEADS, KEY_DIM, score="additive", value_dim=3, use_bias=False, name="mha_add"
    )(decoded, encoded)
    mha_general, mha_weights = mha(
        HEADS, KEY_DIM, score="general", output_dim=5, use_bias=False, name="mha_gen"
    )(decoded, encoded, return_attention_scores=True)
    outputs["mha_general"] = mha_general
    outputs["mha_general_weights"] = mha_weights

    # The positional layers applied by hand (new after v0.1.0): RoPE on the
    # encoder outputs, ALiBi on attention scores.
    outputs["rotary"] = ka.RotaryEmbedding(max_wavelength=100, name="rotary")(
        encoded, start_index=2
    )
    outputs["alibi"] = ka.AlibiBias(alibi_bias_max=6, name="alibi")(mha_weights)

    # Self-attention: multi-head and a classic single-head score.
    outputs["self_scaled_dot"] = ka.SelfAttention(
        num_heads=HEADS, use_causal_mask=True, window=3, use_bias=False, name="self_dot"
    )(decoded)
    outputs["self_additive"] = ka.SelfAttention(
        score="additive", units=8, name="self_additive"
    )(encoded)

    # Classic encoder-decoder attention over the encoder outputs.
    outputs["additive"] = ka.AdditiveAttention(units=8, normalize=True, name="add")(
        decoded, encoded
    )
    for score, kwargs in (
        ("dot", {}),
        ("scaled_dot", {}),
        ("general", {"use_scale": True}),
        ("concat", {"units": 8}),
        ("location", {"max_length": SOURCE_LENGTH}),
    ):
        outputs[f"luong_{score}"] = ka.LuongAttention(score=score, **kwargs)(
            decoded, encoded
        )
    local, local_weights = ka.LocalAttention(
        window_width=2, mode="predictive", name="local_predictive"
    )(decoded, encoded, return_attention_scores=True)
    outputs["local_predictive"] = local
    outputs["local_predictive_weights"] = local_weights
    outputs["local_monotonic"] = ka.LocalAttention(
        window_width=1, mode="monotonic", score="dot", name="local_monotonic"
    )(decoded, encoded)

    # Recurrent decoders: each runs an AttentionWrapper cell in keras.layers.RNN.
    bahdanau, alignments = ka.AttentionDecoder(
        keras.layers.LSTMCell(DIM),
        ka.BahdanauAttention(units=8),
        style="bahdanau",
        name="decoder_bahdanau",
    )(decoder_inputs, encoded, return_attention_scores=True)
    outputs["rnn_bahdanau"] = bahdanau
    outputs["rnn_bahdanau_alignments"] = alignments
    outputs["rnn_luong"] = ka.AttentionDecoder(
        keras.layers.GRUCell(DIM),
        ka.MultiplicativeAttention(score="general"),
        attention_layer_size=DIM,
        name="decoder_luong",
    )(decoder_inputs, encoded, initial_state=[outputs["self_scaled_dot"][:, -1]])
    return keras.Model(
        {"source": source, "target": target}, outputs, name="every_layer"
    )


def predict(model, inputs):
    """The model's outputs as float32 NumPy arrays, by name."""
    outputs = model.predict(inputs, batch_size=BATCH, verbose=0)
    return {name: np.asarray(value, "float32") for name, value in outputs.items()}


def main():
    backend = keras.backend.backend()
    folder = HERE / f"v{ka.__version__}"
    model_path = folder / f"{backend}.keras"
    data_path = folder / f"{backend}.npz"
    existing = [str(p) for p in (model_path, data_path) if p.exists()]
    if existing:
        sys.exit(
            f"Refusing to overwrite {existing}: the fixtures of a version are "
            "frozen (see README.md). Bump the version for new fixtures."
        )
    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    model = build_model()
    inputs = make_inputs()
    outputs = predict(model, inputs)
    model.save(model_path)
    np.savez(
        data_path,
        **{f"input_{k}": v for k, v in inputs.items()},
        **{f"output_{k}": v for k, v in outputs.items()},
    )
    print(
        f"{model_path} ({model_path.stat().st_size // 1024} KB, "
        f"{model.count_params()} parameters, {len(outputs)} outputs), {data_path}"
    )


if __name__ == "__main__":
    main()
