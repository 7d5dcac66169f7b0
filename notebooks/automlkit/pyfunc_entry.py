"""Models-from-code entry point of the logged pyfunc model (MLflow runs this file at load; nothing is unpickled)."""

from mlflow.models import set_model

from automlkit.pyfunc_model import MojoClassifier

set_model(MojoClassifier())
