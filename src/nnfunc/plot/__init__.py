"""Figures for notebooks: training curves, schedules, optimizer paths on 2-D functions,
image grids, decision boundaries, confusion matrices, activation statistics and word
embeddings.

matplotlib is imported only when a function runs (``import nnfunc`` never imports it);
without it the functions raise ``ImportError`` naming ``pip install "nnfunc[notebooks]"``.
Every function returns the matplotlib ``Figure`` and takes ``ax=``: an ``Axes`` to draw
into (or, for the functions that draw several panels, a sequence of them, e.g. the array
``plt.subplots`` returns) instead of making a new figure.

``nf.plot.X`` draws the quantity computed by the function of the same name elsewhere in
nnfunc, which is where the numbers come from: ``nf.plot.activation_stats`` draws the
records of ``nf.layers.activation_stats``; ``nf.plot.confusion_matrix`` draws the counts
of ``nf.metrics.confusion_matrix`` (rows true, columns predicted; from predicted labels
as well as logits, see ``nf.plot.confusion_counts``); ``nf.plot.schedule`` draws the
values of a schedule of ``nf.schedules``.

Figures, Jupyter and scripts: without ``ax=`` a function makes a new *pyplot* figure
(``plt.subplots``), so Jupyter's inline backend shows it at the end of the cell (also
when the call is not the cell's last line) and ``plt.show()`` shows it in a script. As
the Figure is also returned, a call that is the cell's last expression would be shown a
second time by IPython: end that line with ``;`` or assign the result
(``fig = nf.plot.history(result)``). The inline backend closes its figures once shown;
elsewhere pyplot keeps each figure alive until ``plt.close(fig)`` (or
``plt.close('all')``; it warns beyond 20 open figures). Passing ``ax=`` from a figure you
made (``matplotlib.figure.Figure().subplots()``) avoids pyplot altogether.

The classic test functions of optimization (``rosenbrock``, ``beale``, ``saddle``,
``monkey_saddle``) and the numbers behind two of the figures (``optimizer_trajectories``,
``confusion_counts``) are public too.

Modules: ``training`` (history, schedule; what ``nf.train.LivePlot`` redraws),
``surfaces`` (test functions, optimizer paths), ``classification`` (decision boundary,
confusion matrix), ``inspection`` (images, activation statistics, embeddings). This
package imports nothing from ``nnfunc.train``: it reads a training result by its fields.
"""
from nnfunc.plot.classification import confusion_counts, confusion_matrix, decision_boundary
from nnfunc.plot.inspection import activation_stats, embedding_2d, images
from nnfunc.plot.surfaces import (
    beale, monkey_saddle, optimizer_paths, optimizer_trajectories, rosenbrock, saddle)
from nnfunc.plot.training import history, schedule

__all__ = ["history", "schedule", "optimizer_paths", "optimizer_trajectories",
           "rosenbrock", "beale", "saddle", "monkey_saddle", "images", "decision_boundary",
           "confusion_matrix", "confusion_counts", "activation_stats", "embedding_2d"]
