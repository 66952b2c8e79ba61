"""Train and evaluate on one framework release: the version a SageMaker container trained with vs this worker's.

The training entry point records, in the artifact's FRAMEWORK.json, the framework package and the version it
actually imported in the container. A pickled model is only safe to unpickle by the same X.Y release of its
library (scikit-learn warns on any difference and changes estimators' internals between minor releases), so
evaluate calls `check_framework_version(artifact_dir)` before it loads anything. Pure stdlib.
"""

from __future__ import annotations

import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

#: written at the artifact's root by the SageMaker training entry point (and covered by MANIFEST.json)
FRAMEWORK_FILE = "FRAMEWORK.json"


class FrameworkVersionMismatch(RuntimeError):
    """The artifact was trained with another release of its framework than this worker has."""


def release(version: str) -> str:
    """'X.Y' of a package version ('1.4.2' -> '1.4', '2.6.0+cpu' -> '2.6')."""
    match = re.match(r"\d+\.\d+", version)
    return match.group() if match else version


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_framework_version(artifact_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Raise FrameworkVersionMismatch unless this worker has the X.Y release the artifact was trained with.

    Returns the artifact's FRAMEWORK.json record, or None for an artifact without one (trained on the worker
    itself, by the local subprocess compute, in this very environment).
    """
    path = Path(artifact_dir) / FRAMEWORK_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    package, trained = record["package"], record["package_version"]
    here = installed_version(package)
    if here is None or release(here) != release(trained):
        image = record.get("image") or f"{record.get('framework')} {record.get('container_version')}"
        raise FrameworkVersionMismatch(
            f"{artifact_dir} was trained with {package} {trained} (container {image}) but this worker has "
            f"{package} {here or 'not installed'}: unpickling across releases is unsafe. Install "
            f"{package}=={release(trained)}.* on the workers, or set train.framework_version to a container "
            f"that ships {package} {release(here) if here else 'of the workers'}"
        )
    return record


def container_mismatch(package: str, container_release: str) -> str | None:
    """Why this worker cannot evaluate what a container shipping `package` `container_release` trains, or None."""
    here = installed_version(package)
    if here is not None and release(here) == container_release:
        return None
    return (
        f"the training container ships {package} {container_release} but this worker has "
        f"{package} {here or 'not installed'}; evaluate will refuse the artifact"
    )
