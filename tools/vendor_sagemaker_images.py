"""Regenerate airflow_mlprovider/backends/aws/sagemaker_image_uris.json from the SageMaker Python SDK's image_uris data.

The SDK keeps, per framework, the ECR account of every region and the tags of every container version
(sagemaker-core/src/sagemaker/core/image_uri_config/<framework>.json). This copies those files verbatim, with the
SDK version and commit they came from, and the ECR hostname of every region as botocore resolves it (the SDK
does the same at run time). Run it when the SDK adds versions or regions:

    git clone --depth 1 https://github.com/aws/sagemaker-python-sdk /tmp/sagemaker-python-sdk
    git clone https://github.com/aws/sagemaker-scikit-learn-container /tmp/sagemaker-scikit-learn-container
    .venv/bin/python tools/vendor_sagemaker_images.py /tmp/sagemaker-python-sdk \
        --sklearn-container-repo /tmp/sagemaker-scikit-learn-container

With --sklearn-container-repo it also records which Python packages each scikit-learn container version ships
(its requirements.txt at the version's tag): the training entry point must not pip install at start (jobs may be
network-isolated), so the worker checks that the image can read Parquet (pyarrow) before starting a job.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
from pathlib import Path

FRAMEWORKS = ("sklearn", "xgboost", "pytorch")
CONFIG_DIR = "sagemaker-core/src/sagemaker/core/image_uri_config"
OUT = Path(__file__).resolve().parents[1] / "airflow_mlprovider" / "backends" / "aws" / "sagemaker_image_uris.json"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _ecr_host(region: str) -> str:
    """The ECR hostname of `region` from botocore's endpoint data (amazonaws.com.cn in China)."""
    import botocore.session

    partition = botocore.session.get_session().get_partition_for_region(region)
    suffix = {"aws-cn": "amazonaws.com.cn", "aws-iso": "c2s.ic.gov", "aws-iso-b": "sc2s.sgov.gov"}.get(
        partition, "amazonaws.com"
    )
    return f"dkr.ecr.{region}.{suffix}"


CONTAINER_PACKAGES = ("scikit-learn", "numpy", "pandas", "pyarrow")


def _sklearn_container_packages(repo: Path, versions: list[str]) -> dict[str, dict[str, str]]:
    """{image version: {package: pinned version}} from requirements.txt at each version's tag or branch."""
    refs = set(_git(repo, "for-each-ref", "--format=%(refname:short)").split())
    packages = {}
    for version in versions:
        ref = next((r for r in (f"v{version}", version, f"origin/{version}") if r in refs), None)
        if ref is None:
            continue
        pins = {}
        for line in _git(repo, "show", f"{ref}:requirements.txt").splitlines():
            name, sep, pinned = line.partition("==")
            if sep and name.strip().lower() in CONTAINER_PACKAGES:
                pins[name.strip().lower()] = pinned.strip()
        if not pins.get("scikit-learn", "").startswith(re.match(r"\d+\.\d+", version).group() + "."):
            continue  # the tag points at another version's tree (v0.20.0 does): its pins say nothing of this one
        packages[version] = {"ref": ref, "commit": _git(repo, "rev-parse", ref).strip()[:12], "packages": pins}
    return packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sdk_repo", type=Path, help="a checkout (or bare mirror) of aws/sagemaker-python-sdk")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--sklearn-container-repo", type=Path, help="a clone of aws/sagemaker-scikit-learn-container")
    args = parser.parse_args()
    commit = _git(args.sdk_repo, "rev-parse", args.rev).strip()
    frameworks = {
        name: json.loads(_git(args.sdk_repo, "show", f"{commit}:{CONFIG_DIR}/{name}.json")) for name in FRAMEWORKS
    }
    regions: set[str] = set()
    for config in frameworks.values():
        for scope in ("training", "inference"):
            for version in config[scope]["versions"].values():
                regions.update(version.get("registries", {}))
    data = {
        "source": {
            "repository": "https://github.com/aws/sagemaker-python-sdk",
            "path": CONFIG_DIR,
            "sdk_version": _git(args.sdk_repo, "show", f"{commit}:VERSION").strip(),
            "sagemaker_core_version": _git(args.sdk_repo, "show", f"{commit}:sagemaker-core/VERSION").strip(),
            "commit": commit,
            "commit_date": _git(args.sdk_repo, "show", "-s", "--format=%cs", commit).strip(),
            "vendored_on": datetime.date.today().isoformat(),
        },
        "ecr_hosts": {region: _ecr_host(region) for region in sorted(regions)},
        "frameworks": {name: {s: config[s] for s in ("training", "inference")} for name, config in frameworks.items()},
    }
    if args.sklearn_container_repo:
        versions = sorted(set(frameworks["sklearn"]["training"]["versions"]) | set(frameworks["sklearn"]["inference"]["versions"]))
        data["container_packages"] = {
            "sklearn": _sklearn_container_packages(args.sklearn_container_repo, versions),
            "source": "https://github.com/aws/sagemaker-scikit-learn-container (requirements.txt per version tag)",
        }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} from sagemaker-python-sdk {data['source']['sdk_version']} ({commit[:12]}): "
          f"{len(regions)} regions")


if __name__ == "__main__":
    main()
