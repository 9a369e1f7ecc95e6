"""The pipeline stages as functions, shared by ``stages/*.py`` (DVC) and the ``marlpipe`` CLI.

``envspec`` -> ``init_population`` -> ``evolve`` -> ``evaluate``; each module has a ``run(params,
root)``. Submodules are imported on demand so that importing one stage stays light.
"""
