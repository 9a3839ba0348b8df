"""leakguard: finds data-storage media in X-ray checkpoint scans and closes the learning loop.

This tiny package holds only what every other package may share without breaking the
one-way dependency rule (``infra -> streams/sinks/retrain -> detector/schemas``): the
distribution version and the root of the error hierarchy.
"""

from leakguard.errors import LeakguardError

__all__ = ["LeakguardError", "__version__"]

__version__ = "0.1.0"
