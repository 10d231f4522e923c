"""The wrapped RNN cell: checks, state sizes, initial states, dropout masks.

Functions of the cell alone, shared by `AttentionWrapper` and
`AttentionDecoder`; `owner` is the layer whose name goes into error messages.
"""

import copy

import keras
from keras import ops

from keras_attention.core.validation import describe_shape, owner_name


def as_layer(owner, name, value, dtype=None, allow_none=False):
    """A layer instance from an instance or a `serialize_keras_object` dict.

    A config without a `dtype` gets `dtype` (the owner's policy), so that a
    decoder built from configs under `mixed_float16` is mixed throughout.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, dict):
        value = copy.deepcopy(value)
        if dtype is not None and isinstance(value.get("config"), dict):
            value["config"].setdefault("dtype", dtype)
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, keras.layers.Layer):
        raise ValueError(
            f"{owner_name(owner)}: `{name}` must be a Keras layer (or its "
            f"serialized config); received {name}={value!r}."
        )
    return value


def shape_dim(shape, axis=-1):
    """`shape[axis]`, or `None` for an unknown shape."""
    return None if shape is None else shape[axis]


def policy_config(layer):
    """The layer's dtype policy as a config, for sublayers built from configs."""
    return keras.dtype_policies.serialize(layer.dtype_policy)


def from_config(cls, config, sublayers):
    """`cls(**config)` with the sublayers (and `attention_layer`) deserialized."""
    # A copy: some Keras layers' `from_config` pop keys from their config.
    config = copy.deepcopy(config)
    for key in (*sublayers, "attention_layer"):
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return cls(**config)


def make_attention_layer(wrapper, attention_layer, policy):
    """The wrapper's $W_c$: `attention_layer` (instance or config), a
    bias-free `Dense(attention_layer_size)`, or `None`."""
    if attention_layer is not None:
        return as_layer(wrapper, "attention_layer", attention_layer, policy)
    if wrapper.attention_layer_size is None:
        return None
    return keras.layers.Dense(
        wrapper.attention_layer_size,
        activation=wrapper.attention_activation,
        use_bias=False,
        dtype=wrapper.dtype_policy,
        name="attention_layer",
    )


def check_cell(owner, cell):
    """`cell` if it is an RNN cell with integer state sizes, else a ValueError."""
    name = owner_name(owner)
    if isinstance(cell, keras.layers.RNN):
        raise ValueError(
            f"{name}: `cell` must be an RNN cell such as "
            f"keras.layers.LSTMCell(units), not an RNN layer; received "
            f"cell={cell.__class__.__name__}. Use the layer's cell instead."
        )
    if getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{name}: `cell` must be a Keras RNN cell: a layer with a "
            f"`state_size` attribute, such as keras.layers.LSTMCell or "
            f"keras.layers.GRUCell; received cell={cell!r}, which has no "
            f"`state_size`."
        )
    flat_sizes(cell.state_size, owner)
    return cell


def flat_sizes(state_size, owner=None):
    """The cell's state sizes as a flat list of integers."""
    sizes = keras.tree.flatten(state_size)
    for size in sizes:
        if isinstance(size, (list, tuple)) or not isinstance(size, int):
            raise ValueError(
                f"{owner_name(owner) or 'AttentionWrapper'}: `cell` must have "
                f"integer state sizes (one vector state per tensor); received "
                f"state_size={state_size!r}."
            )
    return sizes


def cell_output_size(cell):
    """The size of the cell's output $h_t$."""
    size = getattr(cell, "output_size", None)
    if size is None:
        size = flat_sizes(cell.state_size)[0]
    return size


def initial_cell_state(owner, cell, batch_size, cell_state, dtype):
    """The flat initial state of `cell`: `cell_state` checked, or zeros.

    Args:
        owner (keras.layers.Layer): the layer named in errors.
        cell (keras.layers.Layer): the wrapped cell.
        batch_size (int | Tensor): the batch size for zeros (an int or a scalar
            tensor).
        cell_state (list[Tensor] | None): `None`, or the state nested as the
            cell's `state_size` or flat.
        dtype (str): the dtype of the returned tensors.

    Returns:
        A list of `(batch, size)` tensors, one per state size.
    """
    sizes = flat_sizes(cell.state_size)
    if cell_state is None:
        if hasattr(cell, "get_initial_state"):
            cell_state = cell.get_initial_state(batch_size=batch_size)
        else:
            cell_state = [ops.zeros((batch_size, size), dtype) for size in sizes]
    flat = keras.tree.flatten(cell_state)
    name = owner_name(owner)
    if len(flat) != len(sizes):
        raise ValueError(
            f"{name}: `cell_state` must hold {len(sizes)} tensors (the state "
            f"of {cell.__class__.__name__}, sizes {sizes}); received "
            f"{len(flat)}."
        )
    flat = [ops.cast(ops.convert_to_tensor(s), dtype) for s in flat]
    for size, state in zip(sizes, flat, strict=True):
        if len(state.shape) != 2 or state.shape[-1] not in (None, size):
            raise ValueError(
                f"{name}: `cell_state` tensors must have shape (batch, size) "
                f"with sizes {sizes}; received shapes "
                f"{[describe_shape(s.shape) for s in flat]}."
            )
    return flat


def pack_cell_state(cell, flat):
    """The flat state list nested as the cell's `state_size`."""
    if isinstance(cell.state_size, int):
        return list(flat)
    return keras.tree.pack_sequence_as(cell.state_size, list(flat))


def previous_output(cell, cell_state):
    """The cell's previous output, $h_{t-1}$, read from its (nested) state."""
    if isinstance(cell, keras.layers.StackedRNNCells):
        cell_state = cell_state[-1]
    return keras.tree.flatten(cell_state)[0]


# --------------------------------------------------------------------------
# Dropout masks of the wrapped cells, made before the loop.
# --------------------------------------------------------------------------


def _dropout_cells(cell, input_dim):
    """(cell, input_dim) for the wrapped cells that cache dropout masks."""
    cells = cell.cells if isinstance(cell, keras.layers.StackedRNNCells) else [cell]
    found = []
    for inner in cells:
        if hasattr(inner, "get_dropout_mask") and hasattr(inner, "reset_dropout_mask"):
            found.append((inner, input_dim))
        input_dim = cell_output_size(inner)
    return found


def prime_dropout_masks(cell, batch_size, cell_input_dim, dtype):
    """Create the dropout masks of `cell` (and its stacked cells) outside the loop.

    Keras' `RNN` does this for the cells it knows (it must, on JAX: a mask
    drawn inside `lax.scan` would leak a tracer); it does not look inside a
    wrapper, so the decoder does it.

    Returns:
        What `reset_dropout_masks` takes once the loop has run.
    """
    cells = _dropout_cells(cell, cell_input_dim)
    for inner, dim in cells:
        if getattr(inner, "dropout", 0) > 0:
            inner.get_dropout_mask(ops.zeros((batch_size, dim), dtype))
        if getattr(inner, "recurrent_dropout", 0) > 0:
            units = flat_sizes(inner.state_size)[0]
            inner.get_recurrent_dropout_mask(ops.zeros((batch_size, units), dtype))
    return cells


def reset_dropout_masks(cells):
    """Forget the masks that `prime_dropout_masks` made."""
    for cell, _ in cells:
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
