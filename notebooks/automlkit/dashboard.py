"""The names ``dashboard_monitoring.py`` still imports from here, kept where they were before the dashboard was
split by responsibility (issue 29); new code imports them from the module that holds them. The dashboard
(``notebooks/dashboard.ipynb``: upload customers, score them through the API, see and download the ranking) is:

- :mod:`automlkit.dashboard_app` the widgets and what each does;
- :mod:`automlkit.dashboard_client` the HTTP client of the prediction API;
- :mod:`automlkit.dashboard_card` what the model card says (problem type, classes, input schema);
- :mod:`automlkit.dashboard_upload` an upload read and checked with the API's own rules before it is sent;
- :mod:`automlkit.dashboard_table` the ranked table: columns, search, sort, pages;
- :mod:`automlkit.dashboard_fit` how the model did on the file when it carries the target;
- :mod:`automlkit.dashboard_charts` the charts, as PNG;
- :mod:`automlkit.dashboard_markup` every piece of HTML, the page's style and script (``templates/``);
- :mod:`automlkit.dashboard_monitoring` the Monitoring tab; :mod:`automlkit.dashboard_server` Voilà.
"""

from __future__ import annotations

from .dashboard_charts import plt, png as _png
from .dashboard_markup import METRIC_NAMES

__all__ = ["METRIC_NAMES", "_png", "plt"]
