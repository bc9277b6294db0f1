"""Internals of the CPU/GPU throughput suite driven by ``benchmarks/run.py``.

``config`` (what to measure), ``flops`` (analytic FLOP counts), ``timing`` (clocks,
medians, matmul ceiling), ``nnfunc_bench`` / ``jax_peer`` / ``torch_peer`` (one epoch
runner per framework and variant) and ``report`` (results.json, report.md,
throughput.png).
"""
