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


# Hypothesis profiles of the property tests (tests/properties/): "ci" is
# derandomized and small enough for every backend's CI run; "long" explores.
# Pick one with HYPOTHESIS_PROFILE=long (default "ci").
try:  # pragma: no cover - hypothesis is a test dependency
    from hypothesis import HealthCheck, Phase
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile(
        "ci",
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=14,
        print_blob=True,
        # No "explain" phase: it reruns a failing test many more times.
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    _hypothesis_settings.register_profile(
        "long",
        derandomize=False,
        database=None,  # no .hypothesis/ in the work tree; print_blob replays
        deadline=None,
        max_examples=200,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:
    pass
