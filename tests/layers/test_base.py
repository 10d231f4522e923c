"""The BaseAttention contract: properties every query/value attention layer has."""

import numpy as np
import pytest
from harness import to_numpy

from keras_attention import AdditiveAttention, LocalAttention, MultiplicativeAttention

FACTORIES = {
    "additive": lambda: AdditiveAttention(units=5),
    "additive-chunked": lambda: AdditiveAttention(units=5, query_chunk_size=2),
    "dot": lambda: MultiplicativeAttention("dot"),
    "scaled_dot": lambda: MultiplicativeAttention("scaled_dot"),
    "general": lambda: MultiplicativeAttention("general", use_scale=True),
    "concat": lambda: MultiplicativeAttention("concat", units=5),
    "location": lambda: MultiplicativeAttention("location", max_length=8),
}
RNG = np.random.default_rng(0)
B, T, D = 2, 6, 4


def inputs():
    query = RNG.normal(size=(B, T, D)).astype("float32")
    value = RNG.normal(size=(B, T, D)).astype("float32")
    return query, value


@pytest.fixture(params=sorted(FACTORIES))
def layer(request):
    return FACTORIES[request.param]()


def test_padding_never_changes_unmasked_outputs(layer):
    query, value = inputs()
    value_mask = np.ones((B, T), bool)
    value_mask[:, -2:] = False
    out = to_numpy(layer(query, value, value_mask=value_mask))
    garbage = value.copy()
    garbage[:, -2:] = RNG.normal(size=(B, 2, D)) * 100
    out_garbage = to_numpy(layer(query, garbage, value_mask=value_mask))
    np.testing.assert_allclose(out_garbage, out, atol=1e-5)


def test_causal_outputs_never_depend_on_later_positions(layer):
    query, value = inputs()
    out = to_numpy(layer(query, value, use_causal_mask=True))
    for t in range(T - 1):
        changed_q, changed_v = query.copy(), value.copy()
        changed_q[:, t + 1 :] = RNG.normal(size=changed_q[:, t + 1 :].shape)
        changed_v[:, t + 1 :] = RNG.normal(size=changed_v[:, t + 1 :].shape)
        new = to_numpy(layer(changed_q, changed_v, use_causal_mask=True))
        np.testing.assert_allclose(new[:, : t + 1], out[:, : t + 1], atol=1e-5)


def test_weights_sum_to_one_over_unmasked_keys(layer):
    query, value = inputs()
    value_mask = RNG.random((B, T)) > 0.4
    value_mask[:, 0] = True
    value_mask[1] = False  # every key of the second sequence masked
    out, weights = layer(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    weights = to_numpy(weights)
    np.testing.assert_allclose(weights[0].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(weights[0][:, ~value_mask[0]], 0.0)
    # Fully masked rows: zero weights and zero output, never NaN.
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_array_equal(to_numpy(out)[1], 0.0)


def test_single_step_equals_the_matching_row_of_the_sequence_form(layer):
    query, value = inputs()
    full = to_numpy(layer(query, value))
    for t in (0, 3):
        step, weights = layer(query[:, t], value, return_attention_scores=True)
        assert tuple(step.shape) == (B, D) and tuple(weights.shape) == (B, T)
        np.testing.assert_allclose(to_numpy(step), full[:, t], atol=1e-5)


def test_explicit_masks_equal_keras_mask_propagation(layer):
    import keras

    query, value = inputs()
    query[:, -1] = 0.0
    value[:, -2:] = 0.0
    q_in, v_in = keras.Input((T, D)), keras.Input((T, D))
    out = layer(keras.layers.Masking()(q_in), keras.layers.Masking()(v_in))
    propagated = to_numpy(keras.Model([q_in, v_in], out)([query, value]))
    explicit = to_numpy(
        layer(
            query,
            value,
            query_mask=np.any(query != 0, -1),
            value_mask=np.any(value != 0, -1),
        )
    )
    np.testing.assert_allclose(propagated, explicit, atol=1e-6)
    np.testing.assert_array_equal(explicit[:, -1], 0.0)  # masked query step


SEEDED = {
    "additive": lambda **kw: AdditiveAttention(units=5, **kw),
    "general": lambda **kw: MultiplicativeAttention("general", **kw),
    "local": lambda **kw: LocalAttention(window_width=2, **kw),
}


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_seed_is_validated_and_in_the_config(name):
    make = SEEDED[name]
    layer = make(dropout=0.5, seed=7)
    assert layer.seed == 7 and layer.get_config()["seed"] == 7
    assert type(layer).from_config(layer.get_config()).seed == 7
    assert make().get_config()["seed"] is None
    with pytest.raises(TypeError, match=f"{type(layer).__name__}: `seed` must be"):
        make(seed="7")


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_seed_makes_attention_dropout_reproducible(name):
    query, value = inputs()
    first, second = (SEEDED[name](dropout=0.5, seed=11) for _ in range(2))
    first(query, value), second(query, value)
    second.set_weights(first.get_weights())
    np.testing.assert_array_equal(
        to_numpy(first(query, value, training=True)),
        to_numpy(second(query, value, training=True)),
    )
    # Dropout is active: the seeded training output is not the inference one.
    inference = to_numpy(first(query, value, training=False))
    assert not np.allclose(to_numpy(first(query, value, training=True)), inference)


def test_classic_self_attention_passes_its_seed_to_the_sublayer():
    from keras_attention import SelfAttention

    layer = SelfAttention(score="additive", units=4, dropout=0.5, seed=5)
    layer(inputs()[0])
    assert layer._attention.seed == 5
