"""Test configuration shared by every backend run.

Run once per backend: `KERAS_BACKEND=jax pytest`, and so on.
"""

import os
import sys

# Keras' own suite imports torch before TensorFlow when both are installed:
# the reverse order can crash at import.
try:  # pragma: no cover - depends on what is installed
    import torch  # noqa: F401
except ImportError:
    pass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1337)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
