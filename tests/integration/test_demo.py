"""cdmtehr demo on a handful of patients: the files, the report's words, the closing lines."""

import pytest

pytest.importorskip("matplotlib")

from cdmtehr.cli import main  # noqa: E402


@pytest.mark.slow
def test_a_quick_demo_writes_a_report_against_real_vs_real(tmp_path, capsys):
    code = main(
        ["demo", "--max-time", "2", "--patients", "40", "-n", "10", "--output", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    # The headline names its classifier, whom it compared, and sits beside its own floor.
    headline = next(line for line in out.splitlines() if line.startswith("headline: "))
    assert " discriminator AUROC " in headline and "(real vs real " in headline
    assert "against the held-out real patients" in headline
    assert "sequence discriminator AUROC" in out
    assert str(tmp_path / "report.html") in out
    for name in ("model.cdmt", "synthetic.parquet", "report.html"):
        assert (tmp_path / name).is_file()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<th>real vs real</th>" in page
    assert "(a classifier)" not in page
    assert any(name in page for name in ("gradient boosting", "a GRU reading"))
    assert "real patients the model was fitted on (a random 10 of 30)" in page
    assert "<th>values to check</th>" in page
