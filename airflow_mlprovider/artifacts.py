"""A trained model's artifact folder: layout, sha256 manifest, and loading its predictor.

Layout (the same on every store):
    model/          what the user's train() wrote into ctx.artifact_dir
    code/<name>.py  the model module as it was at training time (a later edit never changes a version)
    MANIFEST.json   {"files": {relative path: sha256}, "digest": sha256 of the sorted listing}
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

MODEL_DIR = "model"
CODE_DIR = "code"
MANIFEST = "MANIFEST.json"


class TamperedArtifactError(RuntimeError):
    """An artifact file does not match its manifest: it is never loaded."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listing(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def manifest_digest(files: dict[str, str]) -> str:
    """The digest MANIFEST.json records for a {relative path: sha256} listing."""
    return _digest(files)


def write_manifest(artifact_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Hash every file under `artifact_dir` and write MANIFEST.json; returns the manifest."""
    root = Path(artifact_dir)
    files = _listing(root)
    manifest = {"files": files, "digest": _digest(files)}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def verify_manifest(artifact_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Check every file against MANIFEST.json; raise TamperedArtifactError naming what differs."""
    root = Path(artifact_dir)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise TamperedArtifactError(f"{root}: no {MANIFEST}; refusing to load an unverified artifact") from None
    actual = _listing(root)
    expected = manifest["files"]
    changed = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    if changed:
        raise TamperedArtifactError(f"{root}: files differ from {MANIFEST}: {', '.join(changed[:10])}")
    return manifest


def import_module_from_path(path: str | os.PathLike[str], name: str | None = None) -> ModuleType:
    """Import a user's model module from its file (its folder goes first on sys.path for sibling imports)."""
    path = Path(path).resolve()
    name = name or f"mlprovider_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a Python module from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def code_module_path(artifact_dir: str | os.PathLike[str]) -> Path:
    modules = sorted((Path(artifact_dir) / CODE_DIR).glob("*.py"))
    if len(modules) != 1:
        raise TamperedArtifactError(f"{artifact_dir}: expected one module in {CODE_DIR}/, found {len(modules)}")
    return modules[0]


def load_predictor(
    artifact_dir: str | os.PathLike[str], expected_digest: str | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Verify the artifact (and, given the registry's `expected_digest`, that its manifest is that one),
    import its training-time code and return load(model_dir)'s predict function."""
    manifest = verify_manifest(artifact_dir)
    if expected_digest is not None and manifest.get("digest") != expected_digest:
        raise TamperedArtifactError(
            f"{artifact_dir}: {MANIFEST} has digest {manifest.get('digest')!r}, the registry expects {expected_digest!r}"
        )
    module = import_module_from_path(code_module_path(artifact_dir))
    predict = module.load(str(Path(artifact_dir) / MODEL_DIR))
    if not callable(predict):
        raise TypeError(f"{module.__file__}: load() must return a callable predict(request) -> dict")
    return predict
