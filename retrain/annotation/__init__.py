"""The annotation bridge: frames the detector got wrong, labelled by people or automatically.

The cloud worker queues every frame with a false positive or a false negative as an
``AnnotationTask`` (``annotation.tasks``). This package turns those tasks into ``Annotation``
events (``annotations``), the input of the retrain consumer, in one of two ways:

* **Label Studio** — the bridge creates a task in a Label Studio project it set up (the nine
  classes plus a per-box ``subtype``), with the frame image served by the bridge and the
  detector's and guard's boxes as pre-annotations; submitted or updated annotations come
  back by webhook (polling as fallback) and are emitted exactly once per version.
* **auto-label** — for sites without annotators, and the demo: the guard's corrections of
  configured checkpoints become ``Annotation`` events directly, marked ``auto_label``.

See docs/annotation.md.
"""
