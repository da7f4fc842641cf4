"""Benchmarks of the whole pipeline: one module per measurement, each ``python -m bench.<name>``.

See ``bench/README.md`` for the commands and ``docs/benchmarks.md`` for the results.
"""
