"""The optional packages of the generated corpora (the `datasets` extra).

They are imported on first use, never when `keras_attention.datasets` loads.
"""

import importlib


def import_extra(module, corpora):
    """Imports `module` of the `datasets` extra, or says how to install it.

    Args:
        module (str): the module to import, e.g. `"num2words"` or `"babel.dates"`.
        corpora (str): what needs it, for the message (`"date"`: "The date corpora
            need `babel`").

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on what is installed
        package = module.split(".")[0]
        raise ImportError(
            f"The {corpora} corpora need `{package}`: "
            'pip install "keras3-attention[datasets]"'
        ) from error
