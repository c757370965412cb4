"""write_report: a self-contained page with plots and tables, or how to install matplotlib."""

import base64
import sys

import pytest
from helpers.cohorts import PHYSIONET_ROLES as ROLES

from cdmtehr.evaluation import write_report


@pytest.mark.slow  # the scores of four full evaluations, and every figure
def test_write_report_embeds_plots_and_tables(scored, three_parts, tmp_path):
    train, other, holdout = three_parts
    path = write_report(
        train,
        other,
        tmp_path / "report.html",
        holdout,
        scores=scored["real"],
        baseline=scored["real"].scores,
        **ROLES,
    )
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    images = page.split("data:image/png;base64,")[1:]
    assert len(images) >= 6
    for image in images:
        assert base64.b64decode(image.split("'", 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in page and "disc_auroc" in page and "Albumin" in page
    assert "http://" not in page and "https://" not in page  # self-contained


@pytest.mark.slow  # draws every figure
def test_write_report_computes_fidelity_tables_for_a_score_dict(three_parts, tmp_path):
    train, other, _ = three_parts
    path = write_report(
        train,
        other,
        tmp_path / "r.html",
        scores={"disc_auroc": 0.51},
        title="Tiny <check>",
        max_patients=60,
        **ROLES,
    )
    page = path.read_text(encoding="utf-8")
    assert "Tiny &lt;check&gt;" in page
    assert "0.510" in page and "ks" in page


def test_write_report_without_matplotlib_says_how_to_install(three_parts, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    train, other, _ = three_parts
    with pytest.raises(ImportError, match=r"cdmtehr\[report\]"):
        write_report(train, other, tmp_path / "r.html", **ROLES)
