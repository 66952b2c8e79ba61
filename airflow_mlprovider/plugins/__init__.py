"""The Airflow 3 plugin of the provider: a "Models" page in the Airflow UI (docs/models-page.md).

Registered through the `airflow.plugins` entry point. Every Airflow process loads plugins (tasks too), so
this module stays light: the web app (FastAPI, Airflow's API-server security) is built only when the API
server asks for `fastapi_apps`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk.plugins_manager import AirflowPlugin

URL_PREFIX = "/mlprovider"


class ModelsPagePlugin(AirflowPlugin):
    name = "mlprovider_models"
    external_views = [
        {
            "name": "Models",
            # relative to the UI's <base href> ([api] base_url): a leading "/" would miss a sub-path deployment
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "url_route": "models",  # shown inside the Airflow UI at <base_url>/plugin/models
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX.lstrip('/')}/static/icon.svg",
        }
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from airflow_mlprovider.plugins.api import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "mlprovider Models page"}]
