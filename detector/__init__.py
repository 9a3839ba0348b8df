"""X-ray image physics and the scanner simulator, datasets, the RetinaNet model, training,
evaluation, the inference engine and model artifacts.

This package knows nothing about Kafka: the streaming layer calls its inference engine, the
retrain layer calls its training and evaluation.
"""
