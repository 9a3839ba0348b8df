"""Continuous learning: the retrain consumer, dataset accrual, training jobs, gating
against hold-out sets, the model registry, signed artifacts and `model.updates` events.

Nothing here serves inference.
"""
