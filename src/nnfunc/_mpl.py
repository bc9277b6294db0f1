"""The lazy matplotlib import shared by ``nnfunc.plot`` and ``nnfunc.train.LivePlot``.

Internal module: importing nnfunc never imports matplotlib; the drawing functions call
:func:`pyplot` when they run.
"""
from __future__ import annotations

from typing import Any

__all__: list[str] = []

INSTALL = 'pip install "nnfunc[notebooks]"'


def pyplot(who: str) -> Any:
    """``matplotlib.pyplot``, or an ``ImportError`` naming ``who`` and the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"{who} needs matplotlib; install it with `{INSTALL}` "
                          f"(or `pip install matplotlib`)") from err
    return plt
