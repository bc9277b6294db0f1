"""Analytic FLOP counts for one training step (forward + backward) of the suite's models.

Only the multiply-accumulates of dense and convolution layers are counted (2 FLOPs each);
biases, activations, pooling, the loss and the optimizer are ignored (they are O(params)
or O(activations), a few percent at most). The backward pass costs twice the forward
(gradient w.r.t. the inputs and w.r.t. the weights), so a training sample costs
``3 * forward``; for dense layers that is the familiar ``6 * params``.
"""
from __future__ import annotations

from typing import Sequence


def dense_forward_flops(sizes: Sequence[int]) -> int:
    """Forward FLOPs per sample of an MLP ``sizes[0] -> ... -> sizes[-1]``: ``sum 2*i*o``."""
    return sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:]))


def conv_forward_flops(out_h: int, out_w: int, kernel: int, c_in: int, c_out: int) -> int:
    """Forward FLOPs per sample of a 2-D convolution: ``2 * out_h*out_w * k*k*c_in * c_out``."""
    return 2 * out_h * out_w * kernel * kernel * c_in * c_out


def lenet_forward_flops(height: int = 28, width: int = 28, channels: int = 1,
                        num_classes: int = 10) -> int:
    """Forward FLOPs per sample of the LeNet-style ``nf.models.cnn``.

    conv 5x5x6 pad 2 -> pool 2 -> conv 5x5x16 valid -> pool 2 -> dense 120 -> 84 -> classes.
    """
    flops = conv_forward_flops(height, width, 5, channels, 6)      # pad 2 keeps the size
    h, w = height // 2, width // 2
    h, w = h - 4, w - 4                                              # 5x5 valid
    flops += conv_forward_flops(h, w, 5, 6, 16)
    h, w = h // 2, w // 2
    flops += dense_forward_flops([h * w * 16, 120, 84, num_classes])
    return flops


def train_flops_per_sample(model: str, mlp_sizes: Sequence[int]) -> int:
    """FLOPs of one training sample (forward + backward = 3x forward) for ``model``."""
    if model == "mlp":
        return 3 * dense_forward_flops(mlp_sizes)
    if model == "cnn":
        return 3 * lenet_forward_flops()
    raise ValueError(f"model must be 'mlp' or 'cnn', got {model!r}")
