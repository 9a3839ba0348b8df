"""DICOS (NEMA IIC 1) at the scanner side: dual-energy scans in, threat detection reports out.

A DICOS scanner writes each view of an inspected object as a DICOM-encoded image object
holding its high- and low-energy planes. :mod:`~streams.dicos.scan` reads and writes such
objects, :mod:`~streams.dicos.bridge` turns the ones a scanner drops into a folder into
``ScanFrame`` events (the pseudo-colour view the detector was trained on, plus the scan's
identifiers), and :mod:`~streams.dicos.reports` answers every ``Detection`` of such a frame
with a Threat Detection Report (:mod:`~streams.dicos.tdr`) in the scanner's outbox folder.
What of the standard is covered is in ``docs/scanners.md``.
"""
