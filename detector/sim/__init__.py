"""The physics-based dual-energy X-ray scanner simulator.

Scenes are sampled as geometry first (:mod:`detector.sim.scenes`: presets, kind registry,
exact boxes), then rendered (:mod:`~detector.sim.render` with the NIST/spekpy tables of
:mod:`~detector.sim.materials`, detector effects of :mod:`~detector.sim.noise`) and shown
as guards see them (:mod:`~detector.sim.display`). :func:`detector.sim.simulate.simulate`
makes one image from ``(seed, index)``; :class:`detector.sim.stream.ScannerStream` acts as
a checkpoint scanner. See ``docs/simulator.md``.
"""
