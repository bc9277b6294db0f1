"""Data: IDX files, MNIST-family datasets with verified downloads, synthetic MNIST-like
digits, feature normalisation, host-side batching, and random augmentations of image
batches (``random_translate``, ``random_crop``, ``random_flip``, ``gaussian_noise``,
``compose``: functions ``(key, x) -> x`` for ``nf.train.fit(..., augment=...)``). Imports
numpy and the standard library only (tqdm, optionally, for the download progress bar),
never jax: the augmentations load jax when first called.

    >>> from nnfunc import data
    >>> x, y = data.synthetic_mnist(256, seed=0, normalize=True, flatten=True)
    >>> (xt, yt), (xv, yv) = data.train_val_split(x, y, val_fraction=0.25, seed=0)
    >>> xt.shape, xv.shape
    ((192, 784), (64, 784))
"""
from nnfunc.data.idx import IDX_DTYPES, IDXError, read_idx, write_idx
from nnfunc.data.download import (ChecksumError, DownloadError, cache_dir, download_file,
                                  file_digest, verify_file)
from nnfunc.data.datasets import (DATASETS, DatasetInfo, fashion_mnist, kmnist, load_dataset,
                                  mnist)
from nnfunc.data.synthetic import synthetic_mnist
from nnfunc.data.transforms import (MinMax, Standardization, clip, fit_min_max,
                                    fit_standardize, linear_scale, log_scale, min_max_scale,
                                    one_hot, standardize, unstandardize)
from nnfunc.data.batching import batches, num_batches, train_val_split
from nnfunc.data.augment import (compose, gaussian_noise, random_crop, random_flip,
                                 random_translate)

__all__ = [
    "IDX_DTYPES", "IDXError", "read_idx", "write_idx",
    "ChecksumError", "DownloadError", "cache_dir", "download_file", "file_digest",
    "verify_file",
    "DATASETS", "DatasetInfo", "fashion_mnist", "kmnist", "load_dataset", "mnist",
    "synthetic_mnist",
    "MinMax", "Standardization", "clip", "fit_min_max", "fit_standardize", "linear_scale",
    "log_scale", "min_max_scale", "one_hot", "standardize", "unstandardize",
    "batches", "num_batches", "train_val_split",
    "random_translate", "random_crop", "random_flip", "gaussian_noise", "compose",
]
