"""Wrappers over the engines: ``recommended``'s ``fit``, the recommendation decided on the
realistic battery (``benchmarks/battery.py``), and ``distance``'s ``distance_aware``.

May import: every engine package and ``infer.shared``."""
