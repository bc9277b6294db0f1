"""Training and evaluation data from an iterable of ``(x, y)`` batches (a generator, a
torch ``DataLoader``, a ``tf.data`` dataset yielding arrays): the batches are checked,
stacked into chunks of equal shape and put on the device by a background thread while
the device trains on the previous chunk; each chunk is one compiled scan of steps.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Callable, Iterator, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.train._program import cached, eval_means, summarize
from nnfunc.train._validate import as_data, as_train_data

# A chunk holds at most this many bytes (and ``chunk_batches`` batches, 32 by default):
# few dispatches per epoch, little memory, and the progress bar still moves.
_CHUNK_BYTES = 16 * 2**20
_PREFETCH = 2          # chunks prepared ahead of the device


def is_batches(data: Any) -> bool:
    """Whether ``data`` is an iterable of batches rather than ``(X, Y)`` or ``X``: not an
    array, not a tuple, not a list of two arrays, but iterable."""
    if isinstance(data, (tuple, str, bytes, dict)) or hasattr(data, "shape"):
        return False
    if isinstance(data, list) and len(data) == 2 and all(hasattr(d, "shape") for d in data):
        return False                         # [X, Y], as (X, Y)
    return hasattr(data, "__iter__")


class Batch(NamedTuple):
    x: np.ndarray
    y: Optional[np.ndarray]


def _host_array(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    want = jax.dtypes.canonicalize_dtype(arr.dtype)   # float64 -> float32 without x64
    return arr if arr.dtype == want else arr.astype(want)


class Stream:
    """The batches of an iterable, epoch after epoch, checked against the first batch.

    ``steps_per_epoch=None``: each epoch is one pass, ``iter(data)``; a one-shot iterator
    (a generator) then feeds one epoch only. Otherwise each epoch takes the next
    ``steps_per_epoch`` batches of one iterator that goes on across epochs.
    """

    def __init__(self, data: Any, name: str, *, epochs: int = 1,
                 steps_per_epoch: Optional[int] = None, evaluation: bool = False):
        self.data, self.name, self.steps_per_epoch = data, name, steps_per_epoch
        self.one_shot = iter(data) is data
        if self.one_shot and epochs > 1 and steps_per_epoch is None:
            endless = "" if evaluation else "Pass steps_per_epoch= for an endless generator, or "
            raise ValueError(
                f"{name} is a one-shot iterator ({type(data).__name__}): it can feed one "
                f"{'evaluation' if evaluation else 'epoch'}, not {epochs}. {endless or 'Pass '}"
                f"a re-iterable (a list of batches, a torch DataLoader, a class whose "
                f"__iter__ starts a new pass)")
        it = iter(data)
        try:
            first = next(it)
        except StopIteration:
            raise ValueError(f"{name} yielded no batches") from None
        self.first = self._convert(first, 0, check=False)
        self._pending = itertools.chain([first], it) if self.one_shot else None
        self._live: Optional[Iterator] = None
        x, y = self.first
        self.x_shape, self.x_dtype = x.shape[1:], x.dtype
        self.y_shape = None if y is None else y.shape[1:]
        self.y_dtype = None if y is None else y.dtype
        self.length = (steps_per_epoch if steps_per_epoch is not None
                       else len(data) if hasattr(data, "__len__") else None)

    def sample(self) -> Any:
        """The first batch as ``fit`` takes in-memory data: ``(x, y)``, or ``x`` alone."""
        x, y = self.first
        return x if y is None else (x, y)

    def _convert(self, batch: Any, index: int, *, check: bool = True) -> Batch:
        """One batch as host arrays, with the first batch's feature shapes and dtypes."""
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            x, y = _host_array(batch[0]), _host_array(batch[1])
        elif isinstance(batch, (tuple, list)):
            raise ValueError(f"{self.name}: batch {index} is a {type(batch).__name__} of "
                             f"length {len(batch)}; batches must be (x, y) pairs or x alone")
        else:
            x, y = _host_array(batch), None
        if x.ndim < 1 or (y is not None and (y.ndim < 1 or y.shape[0] != x.shape[0])):
            raise ValueError(f"{self.name}: batch {index} has x of shape {x.shape} and y of "
                             f"shape {None if y is None else y.shape}; both need the same "
                             f"leading batch axis")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: batch {index} is empty")
        if not check:
            return Batch(x, y)
        if x.shape[1:] != self.x_shape or (y is None) != (self.y_shape is None) or (
                y is not None and y.shape[1:] != self.y_shape):
            raise ValueError(
                f"{self.name}: batch {index} has example shapes x {x.shape[1:]}, y "
                f"{None if y is None else y.shape[1:]}, but batch 0 had x {self.x_shape}, "
                f"y {self.y_shape}; every batch must have the same feature shape (only the "
                f"batch size may vary)")
        if x.dtype != self.x_dtype:
            x = x.astype(self.x_dtype)
        if y is not None and y.dtype != self.y_dtype:
            y = y.astype(self.y_dtype)
        return Batch(x, y)

    def batches(self, epoch: int) -> Iterator[Batch]:
        """This epoch's batches, converted and checked."""
        if self.steps_per_epoch is None:
            if self.one_shot:
                if self._pending is None:
                    raise ValueError(f"{self.name}: the one-shot iterator is used up")
                source, self._pending = self._pending, None
            else:
                source = iter(self.data)
            for i, b in enumerate(source):
                yield self._convert(b, i)
            return
        if self._live is None:
            self._live = self._pending if self._pending is not None else iter(self.data)
            self._pending = None
        for i in range(self.steps_per_epoch):
            try:
                b = next(self._live)
            except StopIteration:
                if self.one_shot:
                    raise ValueError(
                        f"{self.name} ran out after batch {i} of epoch {epoch} "
                        f"(steps_per_epoch={self.steps_per_epoch}); a one-shot generator "
                        f"must be endless, or pass a re-iterable") from None
                self._live = iter(self.data)
                try:
                    b = next(self._live)
                except StopIteration:
                    raise ValueError(f"{self.name} yielded no batches") from None
            yield self._convert(b, i)


def chunks(batches: Iterator[Batch], *, chunk_batches: int = 32
           ) -> Iterator[tuple[np.ndarray, Optional[np.ndarray], int]]:
    """Consecutive batches of one shape stacked on a new leading axis: ``(xs, ys, size)``,
    at most ``chunk_batches`` batches and (unless one batch is larger) 16 MB a chunk."""
    group: list[Batch] = []
    limit = chunk_batches

    def flush():
        xs = np.stack([b.x for b in group])
        ys = None if group[0].y is None else np.stack([b.y for b in group])
        return xs, ys, group[0].x.shape[0]

    for b in batches:
        if group and (b.x.shape[0] != group[0].x.shape[0] or len(group) >= limit):
            yield flush()
            group = []
        if not group:
            nbytes = b.x.nbytes + (0 if b.y is None else b.y.nbytes)
            limit = max(1, min(chunk_batches, _CHUNK_BYTES // max(nbytes, 1)))
        group.append(b)
    if group:
        yield flush()


def prefetch(items: Iterator, put: Callable[[Any], Any]) -> Iterator:
    """``put(item)`` (e.g. a transfer to the device) for the items of ``items`` in a
    background thread, up to ``_PREFETCH`` ahead; errors are raised in the caller."""
    q: queue.Queue = queue.Queue(maxsize=_PREFETCH)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((True, put(item)))
            q.put((True, done))
        except BaseException as err:   # handed to the consumer, raised there
            q.put((False, err))

    thread = threading.Thread(target=work, daemon=True, name="nnfunc-prefetch")
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():     # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def to_device(x: np.ndarray, y: Optional[np.ndarray], place: Optional[Callable] = None):
    """``(x, y)`` as device arrays (``place``: e.g. replicated over a mesh)."""
    arrays = (jnp.asarray(x), None if y is None else jnp.asarray(y))
    return arrays if place is None else place(arrays)


def train_epoch(run_chunk: Callable, summarize_fn: Callable, ts: Any, stream: Stream,
                epoch: int, bar: Any, place: Optional[Callable] = None, *,
                chunk_batches: int = 32) -> tuple[Any, dict, int]:
    """One epoch over the stream: ``(ts, metrics, samples)``, in chunks of up to
    ``chunk_batches`` batches (:func:`chunks`). Chunks are dispatched as soon as they
    arrive (the device computes while the next one is read)."""
    per_steps, sizes = [], []
    for xs, ys, size in prefetch(chunks(stream.batches(epoch), chunk_batches=chunk_batches),
                                 lambda c: to_device(c[0], c[1], place) + (c[2],)):
        ts, per_step = run_chunk(ts, xs, ys)
        per_steps.append(per_step)
        sizes.append(np.full(xs.shape[0], size, np.int32))
        if bar is not None:
            bar.update(int(xs.shape[0]))
    if not per_steps:
        raise ValueError(f"{stream.name} yielded no batches in epoch {epoch}")
    sizes = np.concatenate(sizes)
    metrics = summarize_fn(per_steps, ts.opt_state, jnp.asarray(sizes))
    return ts, metrics, int(sizes.sum())


@cached
def summarizer(metrics: tuple, runs: bool = False) -> Callable:
    """Jitted ``(chunks, opt_state, sizes=None) -> metrics``: the epoch's metrics from the
    chunks' per-step ones (means weighted by the batch ``sizes`` when given);
    ``runs=True``: for each run of a sweep, the leading axis."""
    axis = 1 if runs else 0

    def one(per_step, opt_state, sizes):
        return summarize(per_step, opt_state, metrics, sizes)
    if runs:
        one = jax.vmap(one, in_axes=(0, 0, None))
    return jax.jit(lambda chunks, opt_state, sizes=None: one(
        jax.tree_util.tree_map(lambda *c: jnp.concatenate(c, axis), *chunks), opt_state,
        sizes))


class Inputs(NamedTuple):
    """The training and evaluation data of ``fit``/``sweep``, checked: arrays, or for an
    iterable its :class:`Stream` and, in ``x``/``y``/``ev``, its first batch (what the
    model, loss and metrics are checked and compiled with)."""
    x: Any
    y: Any
    batch_size: int
    ev: Optional[tuple]
    stream: Optional[Stream]
    ev_stream: Optional[Stream]


def resolve_data(data: Any, eval_data: Any, batch_size: int, *, epochs: int,
                 steps_per_epoch: Optional[int] = None) -> Inputs:
    """``data`` and ``eval_data`` as arrays or streams (an iterable's batches are its
    batches: ``batch_size`` becomes the first one's size)."""
    stream = ev_stream = None
    if is_batches(data):
        stream = Stream(data, "data", epochs=epochs, steps_per_epoch=steps_per_epoch)
        x, y = as_data(stream.sample(), "data batch 0")
        batch_size = x.shape[0]
    elif steps_per_epoch is not None:
        raise ValueError("steps_per_epoch is for data given as an iterable of batches; "
                         "with arrays an epoch is N // batch_size steps")
    if is_batches(eval_data):
        ev_stream = Stream(eval_data, "eval_data", epochs=epochs, evaluation=True)
        ev = as_data(ev_stream.sample(), "eval_data batch 0")
    if stream is None:
        x, y, ev_arrays = as_train_data(data, None if ev_stream else eval_data, batch_size)
    else:
        ev_arrays = None if eval_data is None or ev_stream else as_data(eval_data, "eval_data")
    return Inputs(x, y, batch_size, ev if ev_stream else ev_arrays, stream, ev_stream)


def evaluate_stream(sums: Callable, metrics: tuple, params: Any, model_state: Any,
                    stream: Stream, *, means: Optional[Callable] = None) -> dict:
    """Loss, accuracy and metrics over every example of one pass of the stream
    (``means(totals, n)``: how the sums become results; a sweep vmaps it over runs)."""
    totals, n = None, 0
    for x, y in prefetch(stream.batches(0), lambda b: to_device(b.x, b.y)):
        part = sums(params, model_state, x, x if y is None else y)
        totals = part if totals is None else jax.tree_util.tree_map(jnp.add, totals, part)
        n += int(x.shape[0])
    return eval_means(metrics, totals, n) if means is None else means(totals, n)
