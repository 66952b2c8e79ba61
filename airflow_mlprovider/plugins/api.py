"""The Models page's web app, mounted by the plugin under the Airflow API server at /mlprovider.

    GET /mlprovider/                                   the page (static HTML + vanilla JS, no CDN)
    GET /mlprovider/static/...                         its script, styles, chart code and icon
    GET /mlprovider/api/models                         every model of the dags folder's specs, summarised
    GET /mlprovider/api/models/{dag_id}                one model: champion, versions, rollouts, monitoring
    GET /mlprovider/api/models/{dag_id}/versions/{version_id}/evaluation/{name}   a plot or report file

Authentication and authorization are Airflow's: every API route resolves the caller with the API server's
own `get_user` (the UI's JWT cookie or a bearer token: 401 without one) and shows only the models whose DAG
(dag id = model name) the auth manager lets that user read. The page and its static files hold no data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.sdk import conf

from airflow_mlprovider.plugins.model_data import ModelPage
from airflow_mlprovider.provider_config import defaults_file
from airflow_mlprovider.spec import load_specs
from airflow_mlprovider.spec.loader import LoadResult
from airflow_mlprovider.spec.model import ModelSpec

STATIC = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {".png": "image/png", ".html": "text/html; charset=utf-8", ".md": "text/plain; charset=utf-8"}
#: a report is shown as a document, never run: no scripts (its own images still load)
REPORT_POLICY = "sandbox allow-same-origin"

#: filters model names to those the caller may read
ReadableModels = Callable[[Iterable[str]], set[str]]


def model_specs() -> LoadResult:
    """The specs of the dags folder (parsed, not imported: no DAG code runs in the API server)."""
    return load_specs(conf.get("core", "dags_folder"), defaults_file=defaults_file())


def readable_models(user: GetUserDep) -> ReadableModels:
    """Which of the given model DAGs Airflow's auth manager lets the request's user read."""
    manager = get_auth_manager()
    return lambda names: manager.filter_authorized_dag_ids(dag_ids=set(names), user=user, method="GET")


Specs = Annotated[LoadResult, Depends(model_specs)]
Readable = Annotated[ReadableModels, Depends(readable_models)]


def _page(specs: LoadResult, readable: ReadableModels, dag_id: str) -> ModelPage:
    """The page of a model the caller may read; 404 alike for unknown and unreadable models (no probing)."""
    spec = next((s for s in specs.specs if s.model == dag_id), None)
    if spec is None or dag_id not in readable([dag_id]):
        raise HTTPException(status_code=404, detail=f"no model {dag_id!r} in the dags folder's specs")
    return ModelPage(spec)


def _summary(spec: ModelSpec) -> dict[str, Any]:
    """A model's summary; a store that cannot be read (credentials, network) spoils only its own row."""
    try:
        return ModelPage(spec).summary()
    except Exception as exc:  # noqa: BLE001 - shown on the page, with the model's name
        return {"model": spec.model, "description": spec.description, "error": f"{type(exc).__name__}: {exc}"}


def create_app() -> FastAPI:
    app = FastAPI(title="mlprovider Models page", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/models")
    def models(specs: Specs, readable: Readable) -> dict[str, Any]:
        allowed = readable(s.model for s in specs.specs)
        shown = sorted((s for s in specs.specs if s.model in allowed), key=lambda s: s.model)
        return {
            "dags_folder": conf.get("core", "dags_folder"),
            "models": [_summary(s) for s in shown],
            # which files are broken is no model's data: any signed-in user sees it, as in Airflow's import errors
            "invalid_specs": [{"file": f, "errors": [str(e) for e in es]} for f, es in sorted(specs.errors.items())],
        }

    @app.get("/api/models/{dag_id}")
    def model(dag_id: str, specs: Specs, readable: Readable) -> dict[str, Any]:
        return _page(specs, readable, dag_id).detail()

    @app.get("/api/models/{dag_id}/versions/{version_id}/evaluation/{name}")
    def evaluation_file(dag_id: str, version_id: str, name: str, specs: Specs, readable: Readable) -> Response:
        data = _page(specs, readable, dag_id).evaluation_file(version_id, name)
        if data is None:
            raise HTTPException(status_code=404, detail=f"no evaluation file {name!r} of version {version_id!r}")
        suffix = name[name.rindex("."):]
        headers = {"Content-Security-Policy": REPORT_POLICY} if suffix == ".html" else {}
        return Response(data, media_type=MEDIA_TYPES[suffix], headers=headers)

    return app
