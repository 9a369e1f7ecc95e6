"""The results table: presets trained over seeds, baselines, and the aggregate (RESULTS.md).

``results/dvc.yaml`` runs it: one ``cell`` per task x algorithm x seed (:mod:`.cell`), the
random-policy and zero-action scores of every task (:mod:`.baselines`), then :mod:`.aggregate`.
"""
