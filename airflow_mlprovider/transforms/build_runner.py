"""`dbt build` in-process through dbt's programmatic runner, with a profile rendered for this run only.

dbt's target/ and logs/ and the profiles.yml go to a private temporary folder: the project folder (in the
dags folder) stays read-only and concurrent runs do not share files.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

#: dbt statuses of a node that failed: a model or seed that errored, a test that found failing rows
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeResult:
    """One dbt node's outcome in a build."""

    unique_id: str  # e.g. model.mlprovider_demo.sales_features
    resource_type: str  # model, test, seed, snapshot...
    status: str  # success, pass, warn, error, fail, skipped...
    execution_time_s: float
    message: str

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


class DbtBuildError(RuntimeError):
    """dbt build failed; `failed` names the failing nodes (empty when dbt itself could not run)."""

    def __init__(self, message: str, failed: tuple[NodeResult, ...] = ()) -> None:
        super().__init__(message)
        self.failed = failed


def run_dbt_build(
    project_dir: str, select: str | None, target: str | None, profile: dict[str, Any]
) -> list[NodeResult]:
    """Run `dbt build` on `project_dir` (optionally `--select select`) with `profile`; one NodeResult per node.

    `profile` is a dbt profile ({"target": ..., "outputs": {...}}, see transforms/profiles.py); `target` picks
    its output (default: the profile's target). Raises DbtBuildError naming every failed model or test.
    """
    from dbt.cli.main import dbtRunner

    profile_name = project_profile_name(project_dir)
    with tempfile.TemporaryDirectory(prefix="mlprovider-dbt-") as work:
        _write_private(Path(work) / "profiles.yml", yaml.safe_dump({profile_name: profile}))
        args = [
            "build",
            "--project-dir", project_dir,
            "--profiles-dir", work,
            "--target", target or profile["target"],
            "--target-path", os.path.join(work, "target"),
            "--log-path", os.path.join(work, "logs"),
            "--no-use-colors",
            "--no-send-anonymous-usage-stats",  # no internet on workers, and no telemetry from a scheduler
        ]  # fmt: skip
        if select:
            args += ["--select", *select.split()]
        log.info("dbt %s", " ".join(args))
        outcome = dbtRunner().invoke(args)  # closes its adapters' connections before returning

    if outcome.exception is not None or outcome.result is None or not hasattr(outcome.result, "results"):
        raise DbtBuildError(f"dbt build of {project_dir} could not run: {outcome.exception}")
    results = [_node_result(run) for run in outcome.result.results]
    for node in results:
        log.info("dbt %s %s in %.2fs: %s", node.unique_id, node.status, node.execution_time_s, node.message)
    failed = tuple(node for node in results if node.failed)
    if failed or not outcome.success:
        names = "; ".join(f"{node.unique_id} ({node.status}: {node.message})" for node in failed)
        raise DbtBuildError(f"dbt build of {project_dir} failed: {names or 'see the dbt log above'}", failed)
    return results


def project_profile_name(project_dir: str) -> str:
    """The `profile:` a dbt project asks for, from its dbt_project.yml."""
    project_file = Path(project_dir) / "dbt_project.yml"
    if not project_file.is_file():
        raise DbtBuildError(f"data.dbt.project {project_dir} has no dbt_project.yml")
    project = yaml.safe_load(project_file.read_text()) or {}
    if not project.get("profile"):
        raise DbtBuildError(f"{project_file} sets no `profile:`; name one (its connection is rendered from the spec)")
    return str(project["profile"])


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: the profile may hold a password or a private key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _node_result(run: Any) -> NodeResult:
    return NodeResult(
        unique_id=run.node.unique_id,
        resource_type=str(run.node.resource_type),
        status=str(run.status),
        execution_time_s=float(run.execution_time or 0.0),
        message=str(run.message or ""),
    )

