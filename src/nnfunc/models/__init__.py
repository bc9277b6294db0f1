"""Models: each one a ``Layer`` (``init``, ``apply``) that composes with everything else.

``perceptron`` (with its learning rule), ``linear_regression`` (closed form and gradient
descent), ``logistic_regression``, ``softmax_regression``, ``mlp``, the LeNet-style
``cnn``, and autoencoders (``autoencoder(encoder, decoder)``, ``dense_autoencoder``,
``conv_autoencoder``). Per-layer diagnostics: ``nf.layers.activation_stats``.
"""
from nnfunc.models.autoencoder import autoencoder, conv_autoencoder, dense_autoencoder
from nnfunc.models.linear import (fit_perceptron, linear_regression,
                                  linear_regression_closed_form, linear_regression_gd,
                                  logistic_regression, perceptron, perceptron_update,
                                  softmax_regression)
from nnfunc.models.mlp import cnn, mlp

__all__ = ["perceptron", "perceptron_update", "fit_perceptron", "linear_regression",
           "linear_regression_closed_form", "linear_regression_gd", "logistic_regression",
           "softmax_regression", "mlp", "cnn", "autoencoder", "dense_autoencoder",
           "conv_autoencoder"]
