"""The elite's pyfunc model as code: the file MLflow logs as ``python_model`` and runs.

MLflow runs this file, as a module of its own, when it saves the model
(:func:`~marlpipe.tracking.pyfunc_model.save_elite_model`) and each time it loads it
(``mlflow.pyfunc.load_model``, ``mlflow models serve``); ``set_model`` hands it the policy, whose
``load_context`` then reads the checkpoint among the model's artefacts. Logging the model this
way, not as a pickled object, is what MLflow recommends ("models from code"). Nothing imports it.
"""

import mlflow.models

from marlpipe.tracking.pyfunc_model import ElitePolicy

mlflow.models.set_model(ElitePolicy())
