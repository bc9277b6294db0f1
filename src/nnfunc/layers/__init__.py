"""Layers: pairs of pure functions ``(init, apply)`` and combinators over them.

``params, state = layer.init(key, input_shape)`` (``input_shape`` without the batch axis);
``y, state = layer.apply(params, state, x, *, train=False, key=None)``. Images are NHWC and
convolution kernels HWIO. Parameters are dicts of named arrays: ``'w'`` for weights,
kernels and embedding tables, ``'b'`` for biases, ``'scale'``/``'bias'`` for the affine
part of normalisation layers. Containers (``serial``, ``parallel``, ``residual``) hold a
tuple with one entry per child.

Writing your own container (a layer that runs other layers, as ``serial`` and the models
do): ``split_key`` gives each child its key, ``infer_out_shape`` a child's output shape
from the params its ``init`` built, and ``apply_child`` runs a child so that its errors
name it and ``activation_stats``/``summary`` see inside it.
"""
from nnfunc.layers._base import Layer, apply_child, infer_out_shape, output_shape, split_key
from nnfunc.layers.activation import activation
from nnfunc.layers.activity import ActivityPenalty, activity_regularizer
from nnfunc.layers.combinators import parallel, residual, serial
from nnfunc.layers.conv import conv2d, conv_transpose2d
from nnfunc.layers.dense import dense
from nnfunc.layers.diagnostics import activation_stats
from nnfunc.layers.summary import Summary, summary
from nnfunc.layers.dropout import dropout
from nnfunc.layers.embedding import embedding
from nnfunc.layers.noise import gaussian_noise, masking_noise, salt_and_pepper
from nnfunc.layers.normalization import batch_norm, layer_norm
from nnfunc.layers.pooling import avg_pool, max_pool
from nnfunc.layers.reshape import flatten, reshape
from nnfunc.layers.upsample import upsample

__all__ = ["Layer", "output_shape", "apply_child", "infer_out_shape", "split_key", "dense", "conv2d", "max_pool", "avg_pool", "flatten",
           "dropout", "batch_norm", "layer_norm", "embedding", "activation", "serial",
           "parallel", "residual", "activation_stats", "gaussian_noise", "masking_noise",
           "salt_and_pepper", "activity_regularizer", "ActivityPenalty",
           "conv_transpose2d", "upsample", "reshape", "summary", "Summary"]
