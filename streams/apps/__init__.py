"""The Faust applications, one per role: ``edge`` (detect) and ``cloud`` (outcome join,
alerts, annotation queue). Build them with :func:`streams.apps.edge.build_edge_app` and
:func:`streams.apps.cloud.build_cloud_app`; run them with :func:`streams.worker.run_worker`.
"""
