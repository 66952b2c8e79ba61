"""`sourcedir.tar.gz` for SageMaker script mode: an entry point, the pure helpers it imports, and the model's folder.

The framework container unpacks it into /opt/ml/code and runs (training) or imports (hosting) the entry point;
it pip-installs requirements.txt first. No Docker image is built.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from pathlib import Path

import airflow_mlprovider.artifacts
import airflow_mlprovider.contract

CONTAINER_DIR = Path(__file__).with_name("container")
TRAIN_PROGRAM = "mlprovider_train.py"
SERVE_PROGRAM = "mlprovider_serve.py"
MODEL_SOURCE_DIR = "model_src"  # the model module's folder, under this name in the tarball
TRAINING_REQUIREMENTS = ("pyarrow",)  # read_parquet in the framework containers

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


def _requirements(folder: Path) -> bytes:
    user = (folder / "requirements.txt").read_text().splitlines() if (folder / "requirements.txt").exists() else []
    named = {line.split("=")[0].split("<")[0].split(">")[0].strip().lower() for line in user}
    return "\n".join(user + [r for r in TRAINING_REQUIREMENTS if r not in named]).encode() + b"\n"


def training_source(module_path: str) -> tuple[bytes, str]:
    """(tarball, the module's path inside it): train entry point, helpers, the module's folder, requirements."""
    module = Path(module_path).resolve()
    folder = module.parent
    entries: list[tuple[str, bytes | Path]] = [(TRAIN_PROGRAM, CONTAINER_DIR / "train_entry.py"), *_HELPERS.items()]
    entries += [(f"{MODEL_SOURCE_DIR}/{p.relative_to(folder).as_posix()}", p) for p in _model_files(folder)]
    entries.append(("requirements.txt", _requirements(folder)))
    return _tar_gz(entries), f"{MODEL_SOURCE_DIR}/{module.name}"


def serving_source() -> bytes:
    """The inference handler and its helpers (the model's own code travels inside model.tar.gz, under code/)."""
    return _tar_gz([(SERVE_PROGRAM, CONTAINER_DIR / "serve_entry.py"), *_HELPERS.items()])


def directory_tarball(folder: str) -> bytes:
    """model.tar.gz of a folder's contents (SageMaker unpacks it into /opt/ml/model)."""
    root = Path(folder)
    return _tar_gz((p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file())
