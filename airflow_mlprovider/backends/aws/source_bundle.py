"""`sourcedir.tar.gz` for SageMaker script mode: an entry point, the pure helpers it imports, and the model's folder.

The framework container unpacks it into /opt/ml/code and runs the training entry point. Nothing is installed at
start: the toolkit would pip install a requirements.txt at the tarball's root, which fails in network-isolated
jobs, so none is shipped (a model folder's own requirements.txt travels inside model_src/, unread); the entry
point reads Parquet with the pyarrow the container ships. For hosting, the inference handler and its helpers go
into model.tar.gz under code/ (the inference toolkits' convention), beside the artifact under artifact/.
No Docker image is built.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import airflow_mlprovider.artifacts
import airflow_mlprovider.contract

CONTAINER_DIR = Path(__file__).with_name("container")
TRAIN_PROGRAM = "mlprovider_train.py"
SERVE_PROGRAM = "mlprovider_serve.py"
MODEL_SOURCE_DIR = "model_src"  # the model module's folder, under this name in the tarball
JOB_FILE = "mlprovider_job.json"  # the job's context (params of any size), read by container/train_entry.py
SERVING_CODE_DIR = "code"  # in model.tar.gz: where the inference toolkits look for the handler
SERVING_ARTIFACT_DIR = "artifact"  # in model.tar.gz: the verified artifact folder, as registered

# The shipped names the entry points import, and the package files they are copied from (one source of truth).
_HELPERS = {
    "mlprovider_artifacts.py": Path(airflow_mlprovider.artifacts.__file__),
    "mlprovider_contract.py": Path(airflow_mlprovider.contract.__file__),
}
_SKIPPED = {"__pycache__", ".git", ".ipynb_checkpoints"}


def _tar_gz(entries: Iterable[tuple[str, bytes | Path]]) -> bytes:
    """A gzipped tarball of (name, content or file) with fixed mtimes: the same inputs give the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if isinstance(content, Path):
                info.size = content.stat().st_size
                with content.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _model_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part in _SKIPPED or part.startswith(".") for part in p.relative_to(folder).parts)
    )


def training_source(module_path: str, job: dict[str, Any]) -> bytes:
    """Train entry point, helpers, the module's folder under model_src/, and JOB_FILE (`job` plus the module's
    path inside the tarball)."""
    module = Path(module_path).resolve()
    folder = module.parent
    context = {**job, "module": f"{MODEL_SOURCE_DIR}/{module.name}"}
    entries: list[tuple[str, bytes | Path]] = [(TRAIN_PROGRAM, CONTAINER_DIR / "train_entry.py"), *_HELPERS.items()]
    entries += [(f"{MODEL_SOURCE_DIR}/{p.relative_to(folder).as_posix()}", p) for p in _model_files(folder)]
    entries.append((JOB_FILE, json.dumps(context, sort_keys=True).encode()))
    return _tar_gz(entries)


def serving_code_digest() -> str:
    """sha256 of the inference handler and its helpers: a new handler gets a new model.tar.gz."""
    digest = hashlib.sha256()
    for name, path in [(SERVE_PROGRAM, CONTAINER_DIR / "serve_entry.py"), *sorted(_HELPERS.items())]:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def serving_model_tarball(artifact_dir: str) -> bytes:
    """model.tar.gz for hosting (SageMaker unpacks it into /opt/ml/model): the inference handler and its helpers
    under code/, the artifact folder's files under artifact/."""
    root = Path(artifact_dir)
    entries: list[tuple[str, bytes | Path]] = [
        (f"{SERVING_CODE_DIR}/{name}", path)
        for name, path in [(SERVE_PROGRAM, CONTAINER_DIR / "serve_entry.py"), *_HELPERS.items()]
    ]
    entries += [
        (f"{SERVING_ARTIFACT_DIR}/{p.relative_to(root).as_posix()}", p) for p in sorted(root.rglob("*")) if p.is_file()
    ]
    return _tar_gz(entries)
