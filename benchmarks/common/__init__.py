"""Code the benchmark suites share (``benchmarks/run.py NAME``).

``pages`` (the one run record and page writer), ``timing`` (clocks, round-robin medians,
matmul ceiling), the peers written once (``jax_peer``: raw JAX + optax; ``torch_peer``:
PyTorch eager, ``torch.compile`` and the speedrun's recipe), ``nnfunc_bench`` (nnfunc's
variants as epoch runners), and the throughput suite's ``config``, ``flops``, ``runner``
and ``report``.
"""
