"""Config files: .goleak.toml and [tool.goleak], precedence, errors with lines, the 3.9/3.10 reader."""
import json
import textwrap

import pytest

from goleak.config import Config, find_config, load_config, read_toml_subset, with_overrides
from goleak.errors import UsageError
from tests.conftest import FIXTURES, run_cli

COMPARE = FIXTURES / "compare"
BDA = [str(COMPARE / n) for n in ("before.txt", "during.txt", "after.txt")]


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def compare_json(*args, expect=0):
    return json.loads(run_cli(["compare", *args, "--format", "json"], expect=expect).stdout)


def test_goleak_toml_sets_every_key(tmp_path):
    write(tmp_path / ".goleak.toml", """\
        # goleak settings for this repository
        ignore = ["^main\\\\.tickerLoop$", 'handleLeakMutex']
        default_ignores = false
        min_wait = 3
        min_growth = 4
        min_growth_pct = 25.5
        fuzzy_cutoff = 95
        similarity = "loose"
        fail_on_leak = true
        """)
    config = load_config(start_dir=str(tmp_path))
    assert config == Config(ignore=(r"^main\.tickerLoop$", "handleLeakMutex"), default_ignores=False, min_wait=3,
                            min_growth=4, min_growth_pct=25.5, fuzzy_cutoff=95.0, similarity="loose",
                            fail_on_leak=True, source=config.source)
    assert config.source.endswith(".goleak.toml")


def test_pyproject_tool_goleak(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [project]
        name = "svc"
        dependencies = ["requests>=2", "click"]

        [tool.goleak]
        ignore = ["^main\\\\.poller$"]
        fuzzy_cutoff = "off"

        [tool.other]
        x = 1
        """)
    config = load_config(start_dir=str(tmp_path))
    assert config.ignore == (r"^main\.poller$",) and config.fuzzy_cutoff is None
    assert config.min_wait == 10  # untouched keys keep their defaults


def test_goleak_toml_wins_over_pyproject_in_the_same_directory(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.goleak]\nmin_wait = 1\n")
    write(tmp_path / ".goleak.toml", "min_wait = 2\n")
    assert load_config(start_dir=str(tmp_path)).min_wait == 2


def test_search_walks_up_but_stops_at_the_repository_root(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "svc" / "cmd").mkdir(parents=True)
    write(repo / "pyproject.toml", "[tool.goleak]\nmin_growth = 7\n")
    assert find_config(str(repo / "svc" / "cmd")) == str(repo / "pyproject.toml")
    assert load_config(start_dir=str(repo / "svc" / "cmd")).min_growth == 7
    # A pyproject.toml without [tool.goleak] is not a goleak config; the search goes on.
    write(repo / "svc" / "pyproject.toml", "[project]\nname = 'svc'\n")
    assert find_config(str(repo / "svc" / "cmd")) == str(repo / "pyproject.toml")
    # Above the repository root nothing is read.
    write(tmp_path / ".goleak.toml", "min_wait = 1\n")
    (repo / "pyproject.toml").unlink()
    assert find_config(str(repo / "svc")) is None
    assert load_config(start_dir=str(repo / "svc")) == Config()


def test_command_line_beats_the_file_and_ignore_patterns_add_up():
    config = Config(ignore=("a",), min_wait=3, similarity="loose")
    merged = with_overrides(config, {"ignore": ("b",), "min_wait": 5, "similarity": None, "fuzzy_cutoff": "off"})
    assert merged.ignore == ("a", "b") and merged.min_wait == 5 and merged.similarity == "loose"
    assert merged.fuzzy_cutoff is None


@pytest.mark.parametrize("text, message, line", [
    ("min_wait = 3\nmin_wiat = 4\n", "unknown setting 'min_wiat'", 2),
    ("\n\nmin_wait = \"ten\"\n", "min_wait must be an integer, not 'ten'", 3),
    ("min_growth = 0\n", "min_growth must be an integer >= 1", 1),
    ("fuzzy_cutoff = 101\n", 'fuzzy_cutoff must be a number from 0 to 100, or "off"', 1),
    ("similarity = \"fuzzy\"\n", 'similarity must be one of "exact", "default", "loose"', 1),
    ("ignore = \"^main\"\n", "ignore must be an array of strings", 1),
    ("x = 1\nignore = [\"(\"]\n", "ignore pattern '(' is not a valid regular expression", 2),
    ("default_ignores = 1\n", "default_ignores must be true or false", 1),
])
def test_bad_settings_name_the_file_and_line(tmp_path, text, message, line):
    path = write(tmp_path / ".goleak.toml", text.replace("x = 1\n", "min_wait = 1\n"))
    with pytest.raises(UsageError) as e:
        load_config(str(path))
    assert message in e.value.message
    assert e.value.line == line and e.value.source.endswith(".goleak.toml")


def test_invalid_toml_is_one_clear_line(tmp_path):
    path = write(tmp_path / ".goleak.toml", "min_wait = 3\nignore = [\"a\"\n")
    with pytest.raises(UsageError) as e:
        load_config(str(path))
    assert str(e.value).startswith(str(e.value.source)) and "not valid TOML" in str(e.value)


def test_missing_table_in_an_explicit_pyproject(tmp_path):
    path = write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(UsageError, match=r"no \[tool.goleak\] table"):
        load_config(str(path))


# -- through the CLI ------------------------------------------------------------------
def test_compare_reads_the_config_of_the_current_directory(tmp_path, monkeypatch):
    write(tmp_path / ".goleak.toml", 'ignore = ["^main\\\\.tickerLoop$"]\nmin_growth = 8\nfail_on_leak = true\n')
    monkeypatch.chdir(tmp_path)
    data = compare_json(*BDA, expect=1)  # fail_on_leak from the file
    # ticker ignored; conn (+9) and sender (+40) still leak; mutex (+6) and waitgroup (+5) are noise now.
    assert data["leaks"] == 2 and data["settings"]["min_growth"] == "8"
    assert data["ignore_patterns"][-1] == r"^main\.tickerLoop$"
    # The command line wins: --min-growth 2 brings them back; --no-fail-on-leak turns the gate off.
    data = compare_json(*BDA, "--min-growth", "2", "--no-fail-on-leak")
    assert data["leaks"] == 4
    # A typed default is still a typed value (click reports where each value came from).
    data = compare_json(*BDA, "--similarity", "default", "--no-fail-on-leak")
    assert data["similarity"] == "default"


def test_explicit_config_and_its_errors(tmp_path):
    good = write(tmp_path / "ci.toml", "default_ignores = false\n")
    data = compare_json(*BDA, "--config", str(good))
    assert data["ignored"] == {}
    bad = write(tmp_path / "bad.toml", "min_wait = -1\n")
    err = run_cli(["compare", *BDA, "--config", str(bad)], expect=2).stderr
    assert err.startswith("goleak: error: ") and "bad.toml:1: min_wait must be an integer >= 0" in err
    err = run_cli(["compare", *BDA, "--config", str(tmp_path / "absent.toml")], expect=2).stderr
    assert "cannot read config file" in err


def test_summary_uses_the_config_too(tmp_path):
    cfg = write(tmp_path / "g.toml", 'ignore = ["leakSender"]\n')
    data = json.loads(run_cli(["summary", BDA[2], "--format", "json", "--config", str(cfg)]).stdout)
    assert data["ignored_goroutines"] == 40 + 2  # the senders, and the two default-ignored


# -- the reader for Python 3.9 and 3.10 -------------------------------------------------------
PYPROJECT = '''\
# A pyproject.toml with the TOML forms such files use around the [tool.goleak] table.
[build-system]
requires = ["setuptools>=61", 'wheel']
build-backend = "setuptools.build_meta"

[project]
name = "svc"
description = """
A service. [not a table]
with "quotes" and a \\
continued line."""
license = { text = "MIT" }
authors = [
  { name = "A. B.", email = "a@example.com" },   # comment inside an array
]
dynamic = ['version']
"quoted key" = 'C:\\path\\no\\escapes'
released = 2026-05-01T10:00:00Z
day = 2026-05-01
pi = 3.14
big = 1_000_000
hex = 0xff
neg = -17
exp = 6.02e23
literal = \'\'\'
raw [tool.goleak] text
\'\'\'
empty = []
nested = [[1, 2], ["a", "b"]]

[tool.ruff.lint]
select = ["E", "F"]

[tool.goleak]
ignore = [
    "^main\\\\.poller$",   # the poller is meant to live forever
    "github.com/acme/pool\\\\.\\\\(\\\\*Pool\\\\)\\\\.worker",
]
min_wait = 5
fuzzy_cutoff = 92.5
similarity = "default"
fail_on_leak = false

[[tool.other.items]]
a = 1
[[tool.other.items]]
a = 2
'''


def test_subset_reader_agrees_with_tomllib():
    tomllib = pytest.importorskip("tomllib")
    assert read_toml_subset(PYPROJECT, "pyproject.toml") == _with_text_dates(tomllib.loads(PYPROJECT))


def _with_text_dates(value):
    # tomllib returns datetime objects; the subset reader keeps dates as their text.
    import datetime
    if isinstance(value, dict):
        return {k: _with_text_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_text_dates(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def test_subset_reader_reads_the_goleak_table():
    doc = read_toml_subset(PYPROJECT, "pyproject.toml")
    assert doc["tool"]["goleak"] == {
        "ignore": [r"^main\.poller$", r"github.com/acme/pool\.\(\*Pool\)\.worker"],
        "min_wait": 5, "fuzzy_cutoff": 92.5, "similarity": "default", "fail_on_leak": False}
    assert doc["project"]["literal"] == "raw [tool.goleak] text\n"


@pytest.mark.parametrize("text, message, line", [
    ("a = 1\nb = [1, 2\n", "expected , or ] in an array", 3),
    ("a = \"open\n", "unterminated string", 1),
    ("\n[tool\nx = 1\n", "expected ] to close the table header", 2),
    ("a = 1\na = 2\n", "key 'a' is defined twice", 2),
    ("a = 1 b\n", "expected the end of the line", 1),
    ("a = \"\\q\"\n", "unknown escape \\q", 1),
    ("= 1\n", "expected a key", 1),
    ("a = @\n", "expected a value", 1),
])
def test_subset_reader_errors_carry_the_line(text, message, line):
    with pytest.raises(UsageError) as e:
        read_toml_subset(text, "x.toml")
    assert message in e.value.message and e.value.line == line and e.value.source == "x.toml"


def test_config_through_the_subset_reader(tmp_path, monkeypatch):
    """What Python 3.9 and 3.10 run: tomllib hidden, the same settings come out."""
    import builtins
    real_import = builtins.__import__

    def no_tomllib(name, *args, **kwargs):
        if name == "tomllib":
            raise ImportError("no tomllib before Python 3.11")
        return real_import(name, *args, **kwargs)
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    with_tomllib = load_config(str(path))
    monkeypatch.setattr(builtins, "__import__", no_tomllib)
    assert load_config(str(path)) == with_tomllib
    assert with_tomllib.min_wait == 5 and with_tomllib.fuzzy_cutoff == 92.5
    bad = write(tmp_path / ".goleak.toml", "min_wait = 1\n\nmin_growth = \"x\"\n")
    with pytest.raises(UsageError) as e:
        load_config(str(bad))
    assert e.value.line == 3
