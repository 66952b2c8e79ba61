"""SageMaker framework container image URIs (script mode: no Docker build) from the bundled table. Pure."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_TABLE = Path(__file__).with_name("framework_images.json")


@cache
def image_table() -> dict:
    return json.loads(_TABLE.read_text())


def framework_image_uri(
    framework: str, region: str, purpose: str, version: str | None = None, gpu: bool = False
) -> str:
    """The ECR URI of `framework`'s container for `purpose` ('training' or 'hosting') in `region`."""
    frameworks = image_table()["frameworks"]
    if framework not in frameworks:
        raise ValueError(f"no framework image for {framework!r}; known: {', '.join(sorted(frameworks))}")
    entry = frameworks[framework]
    account = entry["registries"].get(region)
    if account is None:
        raise ValueError(
            f"no {framework} image known in region {region!r} (known: {', '.join(sorted(entry['registries']))}); "
            "set train.image_uri to the image's ECR URI"
        )
    if gpu and not entry["gpu"]:
        raise ValueError(f"the {framework} container has no GPU image; use a CPU instance or train.image_uri")
    tag = entry["tag"].format(version=version or entry["default_version"], processor="gpu" if gpu else "cpu")
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{entry['repository'][purpose]}:{tag}"
