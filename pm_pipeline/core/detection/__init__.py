"""The detector modes: fitting models and finding events.

SciPy's and scikit-learn's modules are imported inside the functions that fit or score
(marked ``deferred``), not at the top of the modules: every process that loads the code
location (dagster-daemon's code server, which it restarts every minute, the webserver, each
run) imports this package through the registry, and most of them never fit or score. At the
top, ``scipy.signal`` and ``sklearn.linear_model`` alone cost about 1 s of CPU per process
(``python -X importtime -c "import pm_pipeline.definitions"``).
"""

DEFERRED_NUMERICS = (
    "scipy.linalg",
    "scipy.signal",
    "scipy.spatial",
    "scipy.special",
    "sklearn.linear_model",
)
"""Every module imported that way: a retraining's steps fork from a server that has imported
them once (see :mod:`pm_pipeline.defs.executors`), instead of each step importing its own."""
