"""Settings from a config file: `.goleak.toml`, or `[tool.goleak]` in pyproject.toml.

Where settings come from, strongest first:
  1. the command line (--ignore patterns are added to the config's, not put in their place);
  2. the file named by --config (a `.goleak.toml`-style file, or a pyproject.toml, whose
     [tool.goleak] table is read);
  3. without --config: the first directory, from the current one upwards (stopping at the
     directory holding .git), that has `.goleak.toml` or a pyproject.toml with a
     [tool.goleak] table; in one directory `.goleak.toml` wins and the other is not read;
  4. the built-in defaults.

`.goleak.toml` holds the keys at top level, pyproject.toml under [tool.goleak]:

    ignore = ["^main\\.poller$", "github.com/x/y\\.(\\*Pool)\\.worker"]
    default_ignores = true
    min_wait = 10
    min_growth = 2
    min_growth_pct = 10
    fuzzy_cutoff = 90          # or "off"
    similarity = "default"
    fail_on_leak = false

Python 3.11+ reads the file with tomllib. Python 3.9 and 3.10 have no TOML reader in the
standard library and goleak takes no extra dependency, so there a small reader below
(read_toml_subset) handles the TOML that pyproject files use: tables, dotted and quoted
keys, the four string forms, numbers, booleans, arrays and inline tables (dates are kept as
text). An unknown key, a wrong type or anything it cannot read is an error naming the file
and line.
"""
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

from goleak.compare import DEFAULT_FUZZY_CUTOFF, DEFAULT_MIN_GROWTH, DEFAULT_MIN_GROWTH_PCT
from goleak.errors import UsageError
from goleak.normalize import SIMILARITIES
from goleak.summary import DEFAULT_MIN_WAIT

CONFIG_FILE = ".goleak.toml"
PYPROJECT = "pyproject.toml"



@dataclass(frozen=True)
class Config:
    """Resolved settings; `source` is the file they came from, None for built-in defaults."""

    ignore: Tuple[str, ...] = ()
    default_ignores: bool = True
    min_wait: int = DEFAULT_MIN_WAIT
    min_growth: int = DEFAULT_MIN_GROWTH
    min_growth_pct: float = DEFAULT_MIN_GROWTH_PCT
    fuzzy_cutoff: Optional[float] = DEFAULT_FUZZY_CUTOFF  # None: fuzzy matching off
    similarity: str = "default"
    fail_on_leak: bool = False
    source: Optional[str] = None


def _check_int(lo: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "an integer"
        return None if v >= lo else "an integer >= %d" % lo
    return check


def _check_number(lo: float, hi: Optional[float] = None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if v < lo or (hi is not None and v > hi):
            return "a number from %g to %g" % (lo, hi) if hi is not None else "a number >= %g" % lo
        return None
    return check


def _check_cutoff(v):
    if v == "off":
        return None
    return _check_number(0, 100)(v) and 'a number from 0 to 100, or "off"'


def _convert_cutoff(v):
    return None if v == "off" else float(v)


def _check_bool(v):
    return None if isinstance(v, bool) else "true or false"


def _check_similarity(v):
    return None if v in SIMILARITIES else "one of %s" % ", ".join('"%s"' % s for s in SIMILARITIES)


def _check_patterns(v):
    if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
        return 'an array of strings, e.g. ["^main\\\\.poller$"]'
    return None


# key -> (check returning None or what was expected, conversion)
_KEYS = {
    "ignore": (_check_patterns, tuple),
    "default_ignores": (_check_bool, bool),
    "min_wait": (_check_int(0), int),
    "min_growth": (_check_int(1), int),
    "min_growth_pct": (_check_number(0), float),
    "fuzzy_cutoff": (_check_cutoff, _convert_cutoff),
    "similarity": (_check_similarity, str),
    "fail_on_leak": (_check_bool, bool),
}


def config_from_mapping(data: Mapping[str, Any], source: str, lines: Optional[Mapping[str, int]] = None) -> Config:
    """Validate the table of a config file; every problem names the file and line."""
    lines = lines or {}
    values = {}
    for key in sorted(data):
        line = lines.get(key)
        if key not in _KEYS:
            raise UsageError("unknown setting %r (known: %s)" % (key, ", ".join(sorted(_KEYS))), source, line)
        check, convert = _KEYS[key]
        expected = check(data[key])
        if expected:
            raise UsageError("%s must be %s, not %r" % (key, expected, data[key]), source, line)
        values[key] = convert(data[key])
    if "ignore" in values:
        from goleak.ignore import make_rule
        for p in values["ignore"]:
            make_rule(p, p, source=source, line=lines.get("ignore"))  # fail here, with the line
    return Config(source=source, **values)


def with_overrides(config: Config, options: Mapping[str, Any]) -> Config:
    """Apply command-line options given explicitly (None means not given). --ignore adds."""
    changes = {}
    for key, value in options.items():
        if value is None:
            continue
        check, convert = _KEYS[key]
        if key == "ignore":
            value = list(value)
        expected = check(value)
        if expected:
            raise UsageError("--%s must be %s, not %r" % (key.replace("_", "-"), expected, value))
        changes[key] = config.ignore + convert(value) if key == "ignore" else convert(value)
    return replace(config, **changes)


# -- finding and reading the file ---------------------------------------------------
def find_config(start_dir: str) -> Optional[str]:
    """The nearest .goleak.toml or pyproject.toml with [tool.goleak], walking up to .git."""
    d = os.path.abspath(start_dir)
    while True:
        candidate = os.path.join(d, CONFIG_FILE)
        if os.path.isfile(candidate):
            return candidate
        candidate = os.path.join(d, PYPROJECT)
        if os.path.isfile(candidate) and _has_goleak_table(candidate):
            return candidate
        parent = os.path.dirname(d)
        if parent == d or os.path.exists(os.path.join(d, ".git")):
            return None
        d = parent


# [tool.goleak]   /   [ tool . "goleak" ]   (a cheap test before parsing the whole file)
# [ \t], not \s: under MULTILINE a \s* runs over newlines, and a file of blank lines
# made every line start rescan all the lines after it.
_TOOL_GOLEAK_RE = re.compile(r'^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*"?goleak"?[ \t]*\]', re.MULTILINE)


def _has_goleak_table(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return _TOOL_GOLEAK_RE.search(f.read()) is not None
    except OSError:
        return False


def load_config(explicit: Optional[str] = None, start_dir: str = ".") -> Config:
    """The settings of --config PATH, or of the file found from start_dir, or the defaults."""
    path = explicit if explicit is not None else find_config(start_dir)
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UsageError("cannot read config file: %s" % (e.strerror or e), path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError("config file is not UTF-8 (byte %d)" % e.start, path)
    source = _display(path)
    in_pyproject = os.path.basename(path) == PYPROJECT
    doc, lines = parse_toml(text, source)
    if in_pyproject:
        table = doc.get("tool", {}).get("goleak") if isinstance(doc.get("tool"), dict) else None
        if table is None:
            raise UsageError("no [tool.goleak] table", source)
        if not isinstance(table, dict):
            raise UsageError("tool.goleak must be a table", source)
        return config_from_mapping(table, source, lines.get(("tool", "goleak"), {}))
    return config_from_mapping(doc, source, lines.get((), {}))


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def parse_toml(text: str, source: str) -> Tuple[Dict[str, Any], Dict[Tuple[str, ...], Dict[str, int]]]:
    """The document, and the line of each key per table (for error messages)."""
    try:
        import tomllib
    except ImportError:
        reader = _SubsetReader(text, source)
        return reader.read(), reader.lines
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None)
        if line is None:
            m = re.search(r"line (\d+)", str(e))
            line = int(m.group(1)) if m else None
        raise UsageError("not valid TOML: %s" % getattr(e, "msg", e), source, line)
    return doc, _key_lines(text)


# key = value   /   "quoted key" = value   (at the start of a line; used only for line numbers)
_KEY_LINE_RE = re.compile(r'^\s*(?:"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*=')
# [tool.goleak]   /   [[bin]]
# The name is taken greedily and stripped in Python: blanks matched lazily between two
# \s* made '[' and a run of tabs cubic.
_HEADER_LINE_RE = re.compile(r"^\s*\[\[?([^\]]*)\]\]?\s*(?:#.*)?$")


def _key_lines(text: str) -> Dict[Tuple[str, ...], Dict[str, int]]:
    lines: Dict[Tuple[str, ...], Dict[str, int]] = {}
    table: Tuple[str, ...] = ()
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER_LINE_RE.match(line)
        if m:
            table = tuple(part.strip().strip('"\'') for part in m.group(1).strip().split("."))
            continue
        m = _KEY_LINE_RE.match(line)
        if m:
            key = next(g for g in m.groups() if g is not None)
            lines.setdefault(table, {}).setdefault(key, n)
    return lines


# -- a TOML reader for Python 3.9 and 3.10 --------------------------------------------
# Bare key:            min_wait          tool.goleak        build-system
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
# Date and time, kept as text:  1979-05-27T07:32:00Z  1979-05-27 07:32:00.5+01:00  07:32:00
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?)?(?![\w:.-])"
    r"|\d{2}:\d{2}:\d{2}(?:\.\d+)?")
# Numbers:  42  -17  1_000  0xff  0o17  0b101  3.14  -2e-3  inf  -nan
_HEX_RE = re.compile(r"0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*")
_DEC_RE = re.compile(r"[+-]?(?:0|[1-9](?:_?\d)*)(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?")
_SPECIAL_FLOAT_RE = re.compile(r"[+-]?(?:inf|nan)")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}


class _SubsetReader:
    """Recursive descent over the TOML grammar pyproject files use; errors carry the line."""

    def __init__(self, text: str, source: str):
        self.text = text.replace("\r\n", "\n")
        self.source = source
        self.pos = 0
        self.lines: Dict[Tuple[str, ...], Dict[str, int]] = {}

    # errors and position
    def line(self, pos: Optional[int] = None) -> int:
        return self.text.count("\n", 0, self.pos if pos is None else pos) + 1

    def fail(self, message: str, pos: Optional[int] = None):
        raise UsageError("not valid TOML: " + message, self.source, self.line(pos))

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays and between statements)."""
        while True:
            self.skip_space()
            self.skip_comment()
            if self.peek() == "\n":
                self.pos += 1
            else:
                return

    def end_of_line(self) -> None:
        self.skip_space()
        self.skip_comment()
        if self.pos < len(self.text):
            if self.peek() != "\n":
                self.fail("expected the end of the line, found %r" % self.text[self.pos:self.pos + 10])
            self.pos += 1

    # document
    def read(self) -> Dict[str, Any]:
        root: Dict[str, Any] = {}
        table = root
        path: Tuple[str, ...] = ()
        while True:
            self.skip_blank()
            if self.pos >= len(self.text):
                return root
            if self.peek() == "[":
                array = self.peek(2) == "[["
                self.pos += 2 if array else 1
                self.skip_space()
                path = tuple(self.key())
                self.skip_space()
                closing = "]]" if array else "]"
                if self.peek(len(closing)) != closing:
                    self.fail("expected %s to close the table header" % closing)
                self.pos += len(closing)
                self.end_of_line()
                table = self.open_table(root, path, array)
            else:
                start = self.pos
                keys = self.key()
                self.skip_space()
                if self.peek() != "=":
                    self.fail("expected = after the key %r" % ".".join(keys))
                self.pos += 1
                self.skip_space()
                value = self.value()
                self.end_of_line()
                target = table
                for k in keys[:-1]:
                    target = target.setdefault(k, {})
                    if not isinstance(target, dict):
                        self.fail("key %r is not a table" % k, start)
                if keys[-1] in target:
                    self.fail("key %r is defined twice" % ".".join(keys), start)
                target[keys[-1]] = value
                full = path + tuple(keys[:-1])
                self.lines.setdefault(full, {})[keys[-1]] = self.line(start)

    def open_table(self, root: Dict[str, Any], path: Tuple[str, ...], array: bool) -> Dict[str, Any]:
        table = root
        for i, k in enumerate(path):
            last = i == len(path) - 1
            if last and array:
                items = table.setdefault(k, [])
                if not isinstance(items, list):
                    self.fail("%s is not an array of tables" % ".".join(path))
                items.append({})
                return items[-1]
            nxt = table.setdefault(k, {})
            if isinstance(nxt, list) and nxt and isinstance(nxt[-1], dict):
                nxt = nxt[-1]
            if not isinstance(nxt, dict):
                self.fail("%s is not a table" % ".".join(path[:i + 1]))
            table = nxt
        return table

    def key(self) -> List[str]:
        parts = [self.simple_key()]
        while True:
            self.skip_space()
            if self.peek() != ".":
                return parts
            self.pos += 1
            self.skip_space()
            parts.append(self.simple_key())

    def simple_key(self) -> str:
        c = self.peek()
        if c == '"':
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        m = _BARE_KEY_RE.match(self.text, self.pos)
        if not m:
            self.fail("expected a key, found %r" % self.text[self.pos:self.pos + 10])
        self.pos = m.end()
        return m.group()

    # values
    def value(self) -> Any:
        c = self.peek()
        if self.peek(3) == '"""':
            return self.ml_basic_string()
        if self.peek(3) == "'''":
            return self.ml_literal_string()
        if c == '"':
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        if c == "[":
            return self.array()
        if c == "{":
            return self.inline_table()
        for word, val in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return val
        m = _DATETIME_RE.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return m.group()
        m = _SPECIAL_FLOAT_RE.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return float(m.group())
        m = _HEX_RE.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return int(m.group().replace("_", ""), 0)
        m = _DEC_RE.match(self.text, self.pos)
        if m and m.end() > self.pos:
            self.pos = m.end()
            text = m.group().replace("_", "")
            return float(text) if any(ch in text for ch in ".eE") else int(text)
        self.fail("expected a value, found %r" % self.text[self.pos:self.pos + 10])

    def array(self) -> List[Any]:
        self.pos += 1
        items = []
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value())
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                self.fail("expected , or ] in an array")

    def inline_table(self) -> Dict[str, Any]:
        self.pos += 1
        table: Dict[str, Any] = {}
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return table
        while True:
            self.skip_space()
            keys = self.key()
            self.skip_space()
            if self.peek() != "=":
                self.fail("expected = in an inline table")
            self.pos += 1
            self.skip_space()
            target = table
            for k in keys[:-1]:
                target = target.setdefault(k, {})
            target[keys[-1]] = self.value()
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "}":
                self.pos += 1
                return table
            else:
                self.fail("expected , or } in an inline table")

    def basic_string(self) -> str:
        start = self.pos
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(self.text) or self.peek() == "\n":
                self.fail("unterminated string", start)
            c = self.text[self.pos]
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\\":
                out.append(self.escape())
            else:
                out.append(c)
                self.pos += 1

    def escape(self) -> str:
        c = self.text[self.pos + 1:self.pos + 2]
        if c in _ESCAPES:
            self.pos += 2
            return _ESCAPES[c]
        if c in ("u", "U"):
            n = 4 if c == "u" else 8
            digits = self.text[self.pos + 2:self.pos + 2 + n]
            if len(digits) != n or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                self.fail("bad \\%s escape" % c)
            self.pos += 2 + n
            return chr(int(digits, 16))
        self.fail("unknown escape \\%s" % c)

    def literal_string(self) -> str:
        start = self.pos
        end = self.text.find("'", self.pos + 1)
        newline = self.text.find("\n", self.pos + 1)
        if end < 0 or (0 <= newline < end):
            self.fail("unterminated string", start)
        self.pos = end + 1
        return self.text[start + 1:end]

    def ml_basic_string(self) -> str:
        start = self.pos
        self.pos += 3
        if self.peek() == "\n":
            self.pos += 1
        out = []
        while True:
            if self.pos >= len(self.text):
                self.fail('unterminated """ string', start)
            if self.peek(3) == '"""':
                # Up to two quotes may stand right before the closing three.
                extra = 0
                while extra < 2 and self.text[self.pos + 3 + extra:self.pos + 4 + extra] == '"':
                    extra += 1
                out.append('"' * extra)
                self.pos += 3 + extra
                return "".join(out)
            c = self.text[self.pos]
            if c == "\\":
                nxt = self.text[self.pos + 1:self.pos + 2]
                if nxt in (" ", "\t", "\n"):
                    # line-ending backslash: drop the newline and the indentation after it
                    j = self.pos + 1
                    while j < len(self.text) and self.text[j] in " \t\n":
                        j += 1
                    self.pos = j
                    continue
                out.append(self.escape())
            else:
                out.append(c)
                self.pos += 1

    def ml_literal_string(self) -> str:
        start = self.pos
        self.pos += 3
        if self.peek() == "\n":
            self.pos += 1
        end = self.text.find("'''", self.pos)
        if end < 0:
            self.fail("unterminated ''' string", start)
        # Up to two quotes may stand right before the closing three.
        extra = 0
        while extra < 2 and self.text[end + 3 + extra:end + 4 + extra] == "'":
            extra += 1
        value = self.text[self.pos:end + extra]
        self.pos = end + 3 + extra
        return value


def read_toml_subset(text: str, source: str) -> Dict[str, Any]:
    """The Python 3.9/3.10 reader, callable on any version (tests compare it with tomllib)."""
    return _SubsetReader(text, source).read()
