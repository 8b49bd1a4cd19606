"""reports/ holds what `make reports` renders now: a stale example fails here."""
import re

from goleak.tools import make_reports
from tests.conftest import ROOT


def test_example_reports_are_up_to_date():
    rendered = make_reports.render_examples()
    assert sorted(rendered) == ["compare.html", "compare.md", "summary.html", "summary.md"]
    for name, text in rendered.items():
        path = ROOT / "reports" / name
        assert path.exists(), "reports/%s is missing: run `make reports`" % name
        assert path.read_bytes() == text.encode("utf-8"), "reports/%s is stale: run `make reports`" % name


def test_examples_hold_no_machine_path_or_clock():
    for path in (ROOT / "reports").iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"/(work|tmp|root|home)/", text), path
        assert "generated " not in text, path


def test_readme_links_every_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in (ROOT / "reports").iterdir():
        assert "](reports/%s)" % path.name in readme, path.name
