"""The renamed-argument helper: old spellings warn, conflicts raise."""

import warnings

import keras
import pytest

from keras_attention.layers.deprecation import rename_config, renamed


class _Toy(keras.layers.Layer):
    """A layer that renamed `causal` to `use_causal_mask`."""

    def __init__(self, use_causal_mask=False, **kwargs):
        use_causal_mask = renamed(
            self, kwargs, "causal", "use_causal_mask", use_causal_mask, False
        )
        super().__init__(**kwargs)
        self.use_causal_mask = use_causal_mask

    def get_config(self):
        return {**super().get_config(), "use_causal_mask": self.use_causal_mask}


def test_old_spelling_warns_and_is_used():
    kwargs = {"causal": True, "name": "x"}
    with pytest.warns(DeprecationWarning) as caught:
        value = renamed(
            "SelfAttention", kwargs, "causal", "use_causal_mask", False, False
        )
    assert value is True
    assert kwargs == {"name": "x"}  # the old key is consumed
    message = str(caught[0].message)
    assert message == "SelfAttention: `causal` is deprecated; use `use_causal_mask`."


def test_new_spelling_alone_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert renamed("L", {}, "causal", "use_causal_mask", True, False) is True
        assert renamed("L", {}, "causal", "use_causal_mask", False, False) is False


def test_both_spellings_equal_values_accepted():
    with pytest.warns(DeprecationWarning):
        assert renamed("L", {"causal": True}, "causal", "use_causal_mask", True, False)


def test_both_spellings_different_values_raise():
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError, match=r"L: received both `use_causal_mask`"):
            renamed("L", {"causal": False}, "causal", "use_causal_mask", True, False)


def test_value_read_from_kwargs_when_not_passed():
    kwargs = {"use_causal_mask": True}
    assert renamed("L", kwargs, "causal", "use_causal_mask", default=False) is True
    assert kwargs == {}
    kwargs = {"use_causal_mask": True, "causal": False}
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError):
        renamed("L", kwargs, "causal", "use_causal_mask", default=False)


def test_owner_name_from_layer_and_class():
    with pytest.warns(DeprecationWarning, match=r"^_Toy: `causal`"):
        _Toy(causal=True)
    with pytest.warns(DeprecationWarning, match=r"^_Toy: `causal`"):
        renamed(_Toy, {"causal": 1}, "causal", "use_causal_mask")


def test_kwargs_must_be_a_dict():
    with pytest.raises(TypeError, match="renamed: `kwargs` must be a dict"):
        renamed("L", [("causal", True)], "causal", "use_causal_mask")


def test_old_config_loads_and_new_config_is_written():
    with pytest.warns(DeprecationWarning):
        layer = _Toy.from_config({"name": "toy", "causal": True, "trainable": True})
    assert layer.use_causal_mask is True
    config = layer.get_config()
    assert config["use_causal_mask"] is True and "causal" not in config
    assert _Toy.from_config(config).use_causal_mask is True


def test_rename_config_is_silent_and_checks_conflicts():
    old = {"causal": True, "name": "a"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = rename_config(_Toy, old, {"causal": "use_causal_mask"})
    assert new == {"use_causal_mask": True, "name": "a"}
    assert old == {"causal": True, "name": "a"}  # not modified
    both = {"causal": True, "use_causal_mask": False}
    with pytest.raises(ValueError, match="_Toy: the config holds both"):
        rename_config(_Toy, both, {"causal": "use_causal_mask"})
