import pytest
from harness import CHECKS, LayerCase, run_check

from keras_attention import AdditiveAttention

CASES = [
    LayerCase(
        AdditiveAttention,
        {"units": 4},
        {"query": (2, 5, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("query", "value"),
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4, "normalize": True, "use_bias": False, "query_chunk_size": 2},
        {"query": (2, 5, 6), "value": (2, 7, 3), "key": (2, 7, 5)},
        scores=True,
        mask_inputs=("query", "value", "key"),
        id="normalize-chunked-key",
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4, "dropout": 0.1},
        {"query": (2, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("value",),
        id="single-step",
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4},
        {"query": (2, 5, 6), "value": (2, 5, 6)},
        call_kwargs={"use_causal_mask": True},
        scores=True,
        mask_inputs=("query", "value"),
        id="causal",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)
