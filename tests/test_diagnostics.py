from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlprovider.diagnostics import problem_kind, write_diagnostics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100


def test_regression_plots(tmp_path: Path) -> None:
    y_true = [float(i) for i in range(50)]
    y_pred = [v + (-1) ** i * 0.5 for i, v in enumerate(y_true)]
    files = write_diagnostics("regression", y_true, y_pred, tmp_path / "plots")
    assert [f.name for f in files] == ["predicted_vs_actual.png", "residuals.png"]
    for f in files:
        assert_png(f)


def test_binary_scores_give_roc_and_confusion(tmp_path: Path) -> None:
    y_true = [0, 1] * 20
    y_score = [0.2 + 0.5 * y + 0.01 * i for i, y in enumerate(y_true)]
    files = write_diagnostics("classification", y_true, [min(s, 1.0) for s in y_score], tmp_path)
    assert [f.name for f in files] == ["roc_curve.png", "confusion_matrix.png"]
    for f in files:
        assert_png(f)


def test_hard_labels_give_confusion_matrix_only(tmp_path: Path) -> None:
    files = write_diagnostics("classification", ["a", "b", "c", "a"], ["a", "b", "a", "a"], tmp_path)
    assert [f.name for f in files] == ["confusion_matrix.png"]
    assert_png(files[0])


def test_per_class_probabilities_give_the_confusion_matrix_of_the_most_probable_class(tmp_path: Path) -> None:
    from airflow_mlprovider.evaluation.probabilities import most_probable_labels

    y_true = [0, 1, 2, 2]
    answered = [{"0": 0.6, "1": 0.3, "2": 0.1}, {"0": 0.1, "1": 0.8, "2": 0.1},
                {"0": 0.7, "1": 0.1, "2": 0.2}, {"0": 0.1, "1": 0.1, "2": 0.8}]
    assert most_probable_labels(y_true, answered) == [0, 1, 0, 2]
    assert most_probable_labels(["b", "a"], [[0.9, 0.1], [0.2, 0.8]]) == ["a", "b"]
    files = write_diagnostics("classification", y_true, answered, tmp_path)
    assert [f.name for f in files] == ["confusion_matrix.png"]
    assert_png(files[0])


def test_problem_kind() -> None:
    assert problem_kind("rmse", [0, 1]) == "regression"
    assert problem_kind("roc_auc", [0.5, 1.5]) == "classification"
    assert problem_kind("pkg:cost", [0, 1, 1]) == "classification"
    assert problem_kind("pkg:cost", ["x", "y"]) == "classification"
    assert problem_kind("pkg:cost", [0.5, 1.25, 3.0]) == "regression"
    assert problem_kind("pkg:cost", list(range(100))) == "regression"


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="use 'regression' or 'classification'"):
        write_diagnostics("ranking", [1], [1], tmp_path)
