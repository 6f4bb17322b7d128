"""Reward benchmarks: loaders and the metrics they report (see `unireward.bench.metrics`).

The metrics are pure functions over plain sequences of labels, verdicts or score differences, so they can
be used without a model.
"""
