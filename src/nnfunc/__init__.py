"""nnfunc: a functional deep-learning framework on JAX.

The public surface is the submodules, used as namespaces::

    import nnfunc as nf
    model = nf.models.mlp([784, 256, 10], activation=nf.activations.relu)
    opt = nf.optim.adam(learning_rate=1e-3)
"""
from nnfunc import tree, init, activations, losses, regularizers, metrics  # noqa: F401
from nnfunc import layers, models, schedules, optim, train, data, text  # noqa: F401
from nnfunc import plot  # noqa: F401  (imports matplotlib only when a function runs)

__version__ = "0.1.0"
__all__ = ["tree", "init", "activations", "losses", "regularizers", "metrics",
           "layers", "models", "schedules", "optim", "train", "data", "text", "plot"]
