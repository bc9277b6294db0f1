r"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, hierarchical
softmax or a full softmax, trained with word2vec.c's plain SGD and linearly decaying
learning rate, one compiled program per epoch.

How an epoch runs on the device (:func:`train_word2vec`):

1. The corpus lives on the device as one flat int32 token array and the sentence id of
   every token. From the epoch's key, :func:`epoch_layout` subsamples the tokens, moves
   the kept ones (in order) to the front of an array of static size ``steps * B``
   (padding has sentence id -1) and draws every focus position's dynamic window,
   stratified per batch: each batch of ``B`` holds every window size ``B / W`` times.
2. A ``lax.fori_loop`` runs over the epoch's batches of ``B`` focus positions (as many
   as the kept tokens fill): the kept slots are cut into
   :math:`B / 2W` lanes and each batch takes the next :math:`2W` positions of every lane
   (:func:`batch_slots`), like word2vec.c's threads each on its own part of the file.
   Ordered widest window first, the positions within offset :math:`o`'s reach are a
   prefix of the batch of static length :math:`n_o = B(W - |o| + 1)/W`
   (:func:`pair_layout`), so the batch's :math:`P = B(W + 1)` (focus, context) pairs have
   a static shape with no slot wasted on an offset beyond its window.
   :func:`batch_contexts` reads them; a pair is valid when the context lies in the same
   sentence and neither is padding (the window applies to the subsampled sentence, as
   in word2vec.c). Batches past the last lane's end are skipped.
3. :func:`make_batch` draws the negatives (fresh per skip-gram pair / CBOW focus);
   :func:`sparse_sgd_step` gathers the rows the batch uses (:func:`batch_rows`), takes
   ``jax.grad`` of :func:`batch_loss` with respect to the gathered rows, and
   scatter-adds ``-lr * grad`` into the two tables. No dense ``v x dim`` gradient is
   formed (except for the full softmax, which reads every output row).

The learning rate is word2vec.c's :math:`\eta = \max(\eta_{min}, \eta_0 (1 - p / (E N +
1)))`, :math:`p` the corpus words processed before the batch (subsampled ones included;
batch :math:`s` of an epoch's :math:`S` comes after :math:`\lfloor N s / S \rfloor` of its
words, the lanes advancing together), :math:`E N` the words of all epochs
(:func:`learning_rate_schedule`, an ``nf.schedules.polynomial`` evaluated on :math:`p`
inside the loop).

Beside word2vec.c: a batch updates its rows together from their values before the step
(word2vec.c's few threads step one example at a time, Hogwild), hence the lanes; the
dynamic windows are stratified per batch. As in word2vec.c, CBOW with ``cbow_mean``
averages the context vectors but gives each the hidden vector's whole gradient
(:func:`cbow_hidden`), and skip-gram with hierarchical softmax walks the focus word's
Huffman path with the context word's input vector (:func:`batch_rows`).

The modules, one concept each: ``model`` (:class:`Word2Vec`, :func:`word2vec`), ``layout``
(a batch's pair layout), ``batch`` (:class:`Batch`, the rows a step reads, batch sizing),
``loss`` (the objectives), ``step`` (the sparse SGD step), ``epoch`` (the epoch layout and
its lanes), ``program`` (the learning rate and the compiled epoch), ``train``
(:func:`train_word2vec`). This package is private to :mod:`nnfunc.text`, which re-exports
its public names (a subpackage named ``word2vec`` would clash with the builder function
``nf.text.word2vec``); the names without an underscore in its modules are
:mod:`nnfunc.text`'s internal API.
"""
from nnfunc.text._word2vec.model import Word2Vec, word2vec
from nnfunc.text._word2vec.train import Word2VecResult, train_word2vec

__all__ = ["Word2Vec", "word2vec", "Word2VecResult", "train_word2vec"]
