"""Data sets on disk: COCO reader/writer, parallel generation from the simulator, galleries."""
