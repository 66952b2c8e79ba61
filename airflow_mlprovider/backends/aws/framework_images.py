"""SageMaker framework container images (script mode: no Docker build), from the SageMaker Python SDK's own data.

sagemaker_image_uris.json holds the SDK's image_uri_config for each framework verbatim (ECR account per region,
repository, processors, Python versions and tag parts per container version), the ECR hostname of each region,
and the packages each scikit-learn container version ships; tools/vendor_sagemaker_images.py regenerates it and
records the SDK version and commit. Tags are built the way the SDK's image_uris.retrieve() builds them. Pure.

One declared version serves both purposes: training and hosting use the same container version, so a model is
unpickled by the library that pickled it. `framework_version` is the container version (e.g. sklearn '1.4-2-py312',
pytorch '2.6.0', xgboost '1.7-1'); its leading 'X.Y' is the version of the framework package it ships.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("sagemaker_image_uris.json")
_SCOPES = {"training": "training", "hosting": "inference"}
#: the Python package whose version a framework container is named after
PACKAGES = {"sklearn": "scikit-learn", "xgboost": "xgboost", "pytorch": "torch"}


@cache
def image_table() -> dict[str, Any]:
    return json.loads(_TABLE.read_text())


def _framework(framework: str) -> dict[str, Any]:
    frameworks = image_table()["frameworks"]
    if framework not in frameworks:
        raise ValueError(f"no framework image for {framework!r}; known: {', '.join(sorted(frameworks))}")
    return frameworks[framework]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def versions(framework: str) -> list[str]:
    """Container versions that exist for both training and hosting, oldest first."""
    config = _framework(framework)
    common = set(config["training"]["versions"]) & set(config["inference"]["versions"])
    return sorted((v for v in common if re.match(r"\d+\.\d+", v)), key=_version_key)


def default_version(framework: str) -> str:
    """The newest container version that can both train and serve."""
    return versions(framework)[-1]


def package_version(framework: str, version: str | None = None) -> str:
    """'X.Y' of the framework package that container `version` ships (its name says it: '1.4-2' -> 1.4)."""
    version = version or default_version(framework)
    match = re.match(r"\d+\.\d+", version)
    if match is None:
        raise ValueError(f"{framework} container version {version!r} does not start with the package's X.Y")
    return match.group()


def shipped_packages(framework: str, version: str | None = None) -> dict[str, str] | None:
    """{package: version} the container ships (from its requirements.txt), or None when not recorded."""
    known = image_table().get("container_packages", {}).get(framework, {})
    entry = known.get(version or default_version(framework))
    return None if entry is None else dict(entry["packages"])


def _scope_version(framework: str, purpose: str, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if purpose not in _SCOPES:
        raise ValueError(f"purpose must be one of {', '.join(_SCOPES)}, not {purpose!r}")
    scope = _framework(framework)[_SCOPES[purpose]]
    version = scope.get("version_aliases", {}).get(version, version)
    if version not in scope["versions"]:
        usable = ", ".join(versions(framework))
        raise ValueError(
            f"no {framework} {purpose} container version {version!r} in the SageMaker SDK's image data; "
            f"versions that train and serve: {usable} (or set train.image_uri)"
        )
    return scope, scope["versions"][version]


def framework_image_uri(
    framework: str, region: str, purpose: str, version: str | None = None, gpu: bool = False
) -> str:
    """The ECR URI of `framework`'s container `version` for `purpose` ('training' or 'hosting') in `region`."""
    version = version or default_version(framework)
    scope, config = _scope_version(framework, purpose, version)
    if "repository" not in config:  # keyed by Python version first
        config = config[sorted(config, key=_version_key)[-1]]
    processors = scope.get("processors") or config.get("processors")
    processor = None
    if processors:
        processor = "gpu" if gpu else "cpu"
        if processor not in processors:
            raise ValueError(
                f"the {framework} {version} container has no GPU image; use a CPU instance or train.image_uri"
            )
    py_versions = config.get("py_versions") or []
    py_version = sorted(py_versions, key=_version_key)[-1] if py_versions else None
    container_version = (config.get("container_version") or {}).get(processor)
    account = config["registries"].get(region)
    if account is None:
        raise ValueError(
            f"no {framework} {version} image in region {region!r} (the SageMaker SDK lists "
            f"{len(config['registries'])} regions); set train.image_uri to the image's ECR URI"
        )
    host = image_table()["ecr_hosts"].get(region, f"dkr.ecr.{region}.amazonaws.com")
    tag = "-".join(x for x in (config.get("tag_prefix", version), processor, py_version, container_version) if x)
    return f"{account}.{host}/{config['repository']}:{tag}"
