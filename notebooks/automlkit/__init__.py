"""Shared code of the AutoML stack: data contract, features, training steps, MOJO scoring, registry.

Notebooks (training, exploration, dashboard) and the API import from here; nothing in this package
imports from the API or the notebooks.
"""

__version__ = "0.1.0"
