"""The compiled epoch: word2vec.c's learning rate (:func:`learning_rate_schedule`), the
epoch's keys, and the two jitted programs of an epoch (:func:`epoch_programs`: the layout,
then a ``lax.fori_loop`` of sparse SGD steps), cached per static configuration and
compiled in parallel (:func:`compile_epoch`)."""
from __future__ import annotations

import concurrent.futures
import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import schedules
from nnfunc._checks import check_int, check_real
from nnfunc.text._word2vec.batch import make_batch
from nnfunc.text._word2vec.epoch import batch_contexts, lane_steps, layout_from_keys
from nnfunc.text._word2vec.layout import from_pairs
from nnfunc.text._word2vec.model import Word2Vec
from nnfunc.text._word2vec.step import MAX_ROW_HITS, sparse_sgd_step

__all__ = ["INT32_MAX", "learning_rate_schedule", "epoch_key", "EpochPrograms",
           "epoch_programs", "programs_for", "compile_epoch"]

INT32_MAX = 2**31 - 1


def learning_rate_schedule(learning_rate: float, min_learning_rate: float,
                           total_words: int, epochs: int) -> schedules.Schedule:
    r"""word2vec.c's learning rate as a function of the corpus words processed so far.

    .. math:: \eta(p) = \max\!\Big(\eta_{min},\ \eta_0 \Big(1 - \frac{p}{E N + 1}\Big)\Big)

    (``nf.schedules.polynomial`` with power 1 over :math:`E N + 1` steps, floored.)

    Args:
      learning_rate: :math:`\eta_0 > 0`.
      min_learning_rate: :math:`\eta_{min} >= 0`.
      total_words: :math:`N`, the corpus words per epoch, >= 1.
      epochs: :math:`E`, >= 1.

    Returns:
      ``schedule(p) -> lr`` for integer ``p`` (jit-able).

    Example:
      >>> from nnfunc.text._word2vec.program import learning_rate_schedule
      >>> s = learning_rate_schedule(0.025, 1e-4, total_words=999, epochs=1)
      >>> [round(float(s(p)), 6) for p in (0, 500, 1000)]
      [0.025, 0.0125, 0.0001]
    """
    check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    check_real("min_learning_rate", min_learning_rate, low=0.0)
    total_words = check_int("total_words", total_words, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    base = schedules.polynomial(learning_rate, total_iters=epochs * total_words + 1, power=1.0)

    def schedule(processed):
        return jnp.maximum(min_learning_rate, base(processed))
    return schedule


def epoch_key(key: Any, epoch: int) -> jax.Array:
    """Epoch ``epoch``'s ``'rbg'`` key, hashed from ``key`` (an int seed or a JAX key) and
    ``epoch`` on the host: no JAX program to compile for it."""
    if isinstance(key, (int, np.integer)):
        data = [int(key)]
    else:
        key = jnp.asarray(key)
        typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        data = np.asarray(jax.random.key_data(key) if typed else key).ravel().tolist()
    state = np.random.SeedSequence([int(d) for d in data] + [epoch]).generate_state(4)
    return jax.random.wrap_key_data(jnp.asarray(state, jnp.uint32), impl="rbg")


def _rbg_keys(key: jax.Array, n: int) -> jax.Array:
    """``n`` ``'rbg'`` keys, each 128 random bits drawn from ``key``.

    On CPU an ``'rbg'`` key's bits cost a small fraction of threefry's (the negatives
    take tens of millions per epoch). Drawing the keys' bits, rather than
    splitting or folding in (threefry loops even for ``'rbg'`` keys), also keeps the
    program small: every random call site costs compile time.
    """
    return jax.random.wrap_key_data(jax.random.bits(key, (n, 4), jnp.uint32), impl="rbg")


class EpochPrograms(NamedTuple):
    """An epoch as two jitted programs: ``layout(tables, tokens, sentences, key) ->
    (layout, used, step_keys)`` and ``loop(params, tables, layout, used, step_keys,
    words_before) -> (params, loss_sum, examples, last_lr)``.

    Two programs rather than one because XLA compiles them in parallel threads: the
    layout's sorts and the step's gathers and scatters each take about as long to
    compile, so compilation waits for the larger only.
    """
    layout: Callable
    loop: Callable


@functools.lru_cache(maxsize=32)
def epoch_programs(model: Word2Vec, words: int, steps: int, batch_size: int, unit: int,
                   lr0: float, min_lr: float, total: int,
                   max_row_hits: Optional[int]) -> EpochPrograms:
    """The jitted epoch of a static configuration on a corpus of ``words`` tokens
    (``model`` here holds no arrays: those come in ``tables`` so that they are not baked
    into the programs)."""
    schedule = learning_rate_schedule(lr0, min_lr, total, 1)
    window = model.window
    skipgram = model.architecture == "skipgram"

    def layout_program(tables, tokens, sentences, key):
        keys = _rbg_keys(key, steps + 2)      # subsampling, windows, one per step
        layout = layout_from_keys(keys[0], keys[1], tokens, sentences, tables["keep_prob"],
                                  window, batch_size, steps)
        return layout, lane_steps(layout.kept, batch_size, window), keys[2:]

    def loop_program(params, tables, layout, used, step_keys, words_before):
        m = model._replace(**tables)
        total_units = words // unit

        def clock(s):
            # The corpus words before batch s, s / used of the epoch's (the lanes advance
            # together), in units of `unit` words: s q + s r / used with q, r the
            # quotient and remainder of words / used keeps it in int32, and exact while
            # s r < 2**24 (within a word beyond).
            steps_ = jnp.maximum(used, 1)
            q, r = total_units // steps_, total_units % steps_
            rest = (s.astype(jnp.float32) * r.astype(jnp.float32)) / steps_.astype(jnp.float32)
            return words_before + s * q + jnp.floor(rest).astype(jnp.int32)

        def step(s, carry):
            params, loss_sum, count = carry
            focus, contexts, valid = batch_contexts(layout, s, batch_size, window)
            batch = make_batch(m, focus, contexts, valid, step_keys[s])
            params, loss = sparse_sgd_step(m, params, batch, schedule(clock(s)),
                                           max_row_hits=max_row_hits)
            if not skipgram:        # CBOW: one example per focus with a context
                valid = from_pairs(valid.astype(jnp.int32), window) > 0
            n = jnp.sum(valid, dtype=jnp.int32)
            return params, loss_sum + loss, count + n

        # Batches past the kept tokens hold only padding: the loop stops at `used` (a while
        # loop with a traced bound). A scan over all `steps` skipping them with lax.cond
        # made XLA:GPU copy both tables around the conditional at every step.
        init = (params, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        params, loss_sum, count = jax.lax.fori_loop(0, used, step, init)
        last_lr = schedule(clock(jnp.maximum(used - 1, 0)))
        return params, loss_sum, count, last_lr

    return EpochPrograms(jax.jit(layout_program),
                         jax.jit(loop_program, donate_argnums=(0,)))


def programs_for(model: Word2Vec, words: int, batch_size: int, epochs: int,
                 learning_rate: float, min_learning_rate: float,
                 max_row_hits: Optional[int] = MAX_ROW_HITS) -> tuple:
    """``(programs, tables, unit)``: :func:`train_word2vec`'s epoch programs (cached) for
    a corpus of ``words`` tokens, the model's arrays they take, and the clock unit."""
    unit = -(-(epochs * words + 1) // INT32_MAX)   # clock units: word counts in int32
    static, tables = _static_model(model)
    programs = epoch_programs(static, words, lane_steps(words, batch_size, model.window),
                              batch_size, unit, float(learning_rate),
                              float(min_learning_rate), -(-epochs * words // unit),
                              max_row_hits)
    return programs, tables, unit


def compile_epoch(programs: EpochPrograms, params, tables, tokens, sentences
                  ) -> EpochPrograms:
    """Both programs traced here and compiled at the same time in two threads (XLA
    releases the GIL while it compiles)."""
    key = epoch_key(0, 0)
    lay = programs.layout.lower(tables, tokens, sentences, key)
    shapes = jax.eval_shape(programs.layout, tables, tokens, sentences, key)
    loop = programs.loop.lower(params, tables, *shapes, jnp.int32(0))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        compiled = list(pool.map(lambda lowered: lowered.compile(), (lay, loop)))
    return EpochPrograms(*compiled)


def _static_model(model: Word2Vec) -> tuple[Word2Vec, dict]:
    """``model`` without its arrays (hashable, for the program cache) and the arrays."""
    tables = {"keep_prob": model.keep_prob, "negative_table": model.negative_table,
              "tree": model.tree}
    static = model._replace(vocab=None, keep_prob=None, negative_table=None, tree=None,
                            key=None, init=None)
    return static, tables
