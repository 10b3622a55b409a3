"""Evaluation: posterior predictive against the point-estimate softmax."""
