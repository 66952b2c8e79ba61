"""Artifacts are verified against the registry's digest, not only against their own manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlprovider.artifacts import (
    TamperedArtifactError,
    artifact_folder_uri,
    load_predictor,
    verify_artifact,
    write_manifest,
)

MODULE = '''
def preprocess(raw, ctx):
    return raw

def train(train, validation, ctx):
    pass

def load(artifact_dir):
    return lambda request: {"prediction": ANSWER}
'''


def _artifact(folder: Path, answer: int = 1) -> str:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("42")
    (folder / "code").mkdir()
    (folder / "code" / "m.py").write_text(MODULE.replace("ANSWER", str(answer)))
    return write_manifest(folder)["digest"]


def test_the_registered_digest_loads(tmp_path: Path) -> None:
    digest = _artifact(tmp_path / "a")
    assert verify_artifact(tmp_path / "a", digest)["digest"] == digest
    assert load_predictor(tmp_path / "a", expected_digest=digest)({}) == {"prediction": 1}


def test_tampered_code_with_a_recomputed_manifest_is_refused(tmp_path: Path) -> None:
    """Whoever rewrites the code can rewrite MANIFEST.json: only the registry's digest tells them apart."""
    registered = _artifact(tmp_path / "a")
    (tmp_path / "a" / "code" / "m.py").write_text(MODULE.replace("ANSWER", "666"))
    forged = write_manifest(tmp_path / "a")["digest"]
    load_predictor(tmp_path / "a")  # the manifest alone is satisfied
    with pytest.raises(TamperedArtifactError) as refused:
        load_predictor(tmp_path / "a", expected_digest=registered)
    assert registered in str(refused.value) and forged in str(refused.value)


def test_a_manifest_whose_digest_does_not_match_its_listing_is_refused(tmp_path: Path) -> None:
    registered = _artifact(tmp_path / "a")
    manifest = (tmp_path / "a" / "MANIFEST.json").read_text()
    (tmp_path / "a" / "MANIFEST.json").write_text(manifest.replace(registered, "0" * 64))
    with pytest.raises(TamperedArtifactError, match="records digest"):
        verify_artifact(tmp_path / "a", "0" * 64)


def test_an_empty_expected_digest_never_passes(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    with pytest.raises(TamperedArtifactError, match="none given"):
        verify_artifact(tmp_path / "a", "")


def test_artifact_folders_are_named_by_content() -> None:
    assert artifact_folder_uri("file:///r/runs/x/artifact/", "ab" * 32) == "file:///r/runs/x/artifact/" + "ab" * 8
