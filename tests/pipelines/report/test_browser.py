"""The report in a real headless browser (Debian's Chromium): it loads with no script error, every section
renders with its plots, and a screenshot is taken."""

import re
import shutil
import subprocess

import pytest

from pipelines.report.outputs import resolve
from pipelines.report.page import write

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/setup.sh installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-extensions", "--mute-audio"]


def _chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    home = tmp_path / "chromium-home"  # its profile and crash files stay in the test's folder
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={home}", *args],
        capture_output=True, text=True, timeout=120, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def _html_tag(dom: str) -> str:
    return re.search(r"<html[^>]*>", dom).group(0)


def test_the_report_loads_without_errors_and_every_section_renders(run_dir, tmp_path):
    page = write(resolve([run_dir / d for d in ("web", "shards", "train", "mix")]), tmp_path / "report.html")
    assert page.stat().st_size < 1_500_000
    url = page.resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=3000", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-sections="6"' in html  # the page's last script ran and counted its sections
    assert "data-errors" not in _html_tag(html)  # window error events, recorded on the page by its first script
    for section in ("funnel", "distributions", "dedup", "shards", "training", "mixture"):
        body = re.search(rf'<section id="{section}" data-section="{section}">(.*?)</section>', html, re.S)
        assert body and body.group(1).count("<svg") >= 1, section
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", url)
    assert run.returncode == 0 and shot.stat().st_size > 20_000, run.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        colours = im.convert("RGB").resize((120, 160)).getcolors(maxcolors=100_000)
        assert len(colours) > 50  # plots and text, not a blank or error page


def test_a_script_error_would_be_caught(tmp_path):
    """The error hook works: a page whose script throws is reported in the dumped DOM."""
    from pipelines.report.page import ERROR_HOOK

    bad = tmp_path / "bad.html"
    bad.write_text(f"<html><head>{ERROR_HOOK}</head><body><script>undefinedFunction()</script></body></html>")
    dom = _chromium(tmp_path, "--dump-dom", bad.resolve().as_uri())
    assert "undefinedFunction" in _html_tag(dom.stdout)
