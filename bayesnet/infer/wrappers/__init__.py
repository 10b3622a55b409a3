"""Wrappers over the engines: ``recommended``'s ``fit``, the recommendation decided on the
realistic battery (``benchmarks/battery.py``).

May import: every engine package and ``infer.shared``."""
