"""Regenerate the example reports in reports/ from fixtures/ (`make reports`).

The reports are rendered by the goleak command itself, from the repository root with
relative paths, so they hold no machine path and no time: the same inputs give the same
bytes, and tests/test_report_examples.py fails when a file here is stale.
"""
import contextlib
import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
_COMPARE = "fixtures/compare/"
_SERIES = [_COMPARE + "before.txt", _COMPARE + "during.txt", _COMPARE + "after.txt"]

# file in reports/ -> goleak arguments
EXAMPLES: Tuple[Tuple[str, List[str]], ...] = (
    ("summary.html", ["summary", _COMPARE + "after.txt", "--format", "html"]),
    ("summary.md", ["summary", _COMPARE + "after.txt", "--format", "markdown"]),
    ("compare.html", ["compare", *_SERIES, "--format", "html"]),
    ("compare.md", ["compare", *_SERIES, "--format", "markdown"]),
)


@contextlib.contextmanager
def _in_root() -> Iterator[None]:
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def render_examples() -> Dict[str, str]:
    """File name -> report text, rendered now."""
    from goleak.cli import main
    out = {}
    runner = CliRunner()
    with _in_root():
        for name, args in EXAMPLES:
            result = runner.invoke(main, args, env={"NO_COLOR": "1", "GOLEAK_NO_PROGRESS": "1"},
                                   catch_exceptions=False)
            if result.exit_code != 0:
                raise SystemExit("goleak %s failed (exit %d):\n%s" % (" ".join(args), result.exit_code, result.output))
            out[name] = result.stdout
    return out


def main() -> int:
    REPORTS.mkdir(exist_ok=True)
    for name, text in render_examples().items():
        path = REPORTS / name
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.write_text(text, encoding="utf-8", newline="")
        print("%s %s (%s bytes)" % ("wrote" if old != text else "unchanged", path.relative_to(ROOT),
                                    "{:,}".format(len(text.encode("utf-8")))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
