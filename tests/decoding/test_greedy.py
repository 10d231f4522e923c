"""Greedy search (keras_attention.decoding.greedy): scores and padding of
finished sequences. Greedy search is also checked against a NumPy reference
in tests/decoding/test_beam.py (`beam_size=1` is greedy search)."""

import numpy as np
from decoding_models import CHAIN, markov_step, to_np
from keras import ops

from keras_attention.decoding import greedy_search


def test_finished_sequences_keep_their_score():
    """Scores stop at the end token; positions after it hold `pad_token`."""
    tokens, scores = greedy_search(
        markov_step(CHAIN),
        ops.array([1, 0], "int32"),
        None,
        4,
        end_token=2,
        pad_token=1,
    )
    np.testing.assert_array_equal(to_np(tokens), [[2, 1, 1, 1], [1, 2, 1, 1]])
    np.testing.assert_allclose(
        to_np(scores), [np.log(0.4), np.log(0.5) + np.log(0.4)], rtol=1e-5
    )
