"""Inputs shared by the SelfAttention tests (test_self_attention.py for the
multi-head form, test_classic_self_attention.py for the classic forms)."""

import numpy as np

SEQUENCE = {"inputs": (2, 7, 16)}


def random_sequence(rng, batch=2, length=7, dim=16):
    """A float32 `(batch, length, dim)` sequence drawn from `rng`."""
    return rng.normal(size=(batch, length, dim)).astype("float32")


def padding(batch=2, length=7):
    """A `(batch, length)` padding mask: the second sequence ends 3 early."""
    mask = np.ones((batch, length), bool)
    mask[1, -3:] = False
    return mask
