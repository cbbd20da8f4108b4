import json

from typer.testing import CliRunner

from annotators.evaluate import evaluate_langid
from corpusforge.cli import build_app


def _data(tmp_path):
    (tmp_path / "en.txt").write_text("The cat sleeps on the warm windowsill.\nWe walked to the station together.\n")
    (tmp_path / "de.txt").write_text(
        "Die Katze schläft auf der Fensterbank.\nWir sind zusammen zum Bahnhof gelaufen.\n"
    )
    (tmp_path / "nb.txt").write_text("Vi gikk sammen til stasjonen i går kveld.\n")
    (tmp_path / "zu.txt").write_text("Ngiyabonga kakhulu ngosizo lwakho namhlanje.\n")
    return tmp_path


def test_accuracy_aliases_and_unsupported_languages(tmp_path):
    result = evaluate_langid(_data(tmp_path))
    assert result["per_language"]["en"]["accuracy"] == 1.0
    assert result["per_language"]["de"]["accuracy"] == 1.0
    assert result["unsupported_languages"] == ["zu"]  # lid.176 has no Zulu label
    assert result["supported"]["languages"] == 3
    assert result["sentences"] == 6


def test_cli(tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(build_app(), ["eval", "langid", str(_data(tmp_path)), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "known to the model" in result.output
    assert json.loads(out.read_text())["languages"] == 4
