"""The one interface every framework/variant implements, so the driver times them alike."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional


@dataclasses.dataclass
class EpochRunner:
    """Closures over one prepared training set-up (model, optimizer, data on the device).

    Attributes:
      warmup: untimed work (compilation, first steps); returns something to ``sync`` on.
      run_epoch: one timed epoch; returns something to ``sync`` on.
      sync: waits for the device (``block_until_ready`` / ``torch.cuda.synchronize``).
      samples: training samples one ``run_epoch`` processes, summed over parallel runs.
      runs: number of independent training runs one epoch advances (8 for the sweep).
      last_loss: mean training loss seen most recently (read after timing), or ``None``.
      extra: variant-specific fields copied into the result row.
    """
    warmup: Callable[[], Any]
    run_epoch: Callable[[], Any]
    sync: Callable[[Any], None]
    samples: int
    runs: int = 1
    last_loss: Callable[[], Optional[float]] = lambda: None
    extra: dict = dataclasses.field(default_factory=dict)


def repeat_epochs(run_epoch: Callable[[], Any], epochs: int) -> Callable[[], Any]:
    """A ``warmup`` that runs ``epochs`` untimed epochs and returns the last one's output."""
    def warmup():
        out = None
        for _ in range(epochs):
            out = run_epoch()
        return out
    return warmup
