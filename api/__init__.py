"""The prediction service: FastAPI serving the model that holds the registry's ``champion`` alias."""
