"""The jinja2 environments, built once: HTML autoescaped, Markdown escaped for GitHub."""
import functools
import re

import jinja2
from markupsafe import Markup, escape

# A dump string must never end a table cell (|), open a code span (`), start emphasis,
# a link or a strike-through, or become raw HTML. Backslash escapes work for all ASCII
# punctuation in GitHub-flavoured Markdown, including inside table cells.
#   main.pipe|col`x`**b**[l](u)  ->  main.pipe\|col\`x\`\*\*b\*\*\[l\](u)
# (# and ! need no escape: a dump string never starts a line here, and [ is escaped.)
_MD_PUNCT_RE = re.compile(r"([\\`*_\[\]|~])")
# Line breaks would end a table row or a heading:  "a\r\nb" -> "a b"
_NEWLINES_RE = re.compile(r"[\r\n\u2028\u2029]+")
# Other control characters (ESC, BEL, ...) are shown, not passed on:  "a\x1b]0;t\x07" -> "a\\x1b]0;t\\x07"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _plain(value) -> str:
    text = _NEWLINES_RE.sub(" ", str(value))
    return _CONTROL_RE.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def escape_markdown(value) -> Markup:
    """Inline Markdown text: HTML entities for < > & " ', backslashes for Markdown syntax."""
    if isinstance(value, Markup):
        return value
    return Markup(_MD_PUNCT_RE.sub(r"\\\1", str(escape(_plain(value)))))


def escape_html_inline(value) -> Markup:
    """Text inside an HTML element of a Markdown file (<summary>, <pre>): entities only,
    because GitHub shows backslash escapes there literally."""
    if isinstance(value, Markup):
        return value
    return escape(_plain(value))


# Characters that would end a Markdown link target or an HTML attribute:
#   https://x.test/a (b).go#L3  ->  https://x.test/a%20%28b%29.go#L3
_URL_UNSAFE_RE = re.compile(r"[()<>\s\"'`|]")


def escape_url(value) -> Markup:
    """A link target (already built from percent-quoted parts) made safe for Markdown."""
    return Markup(_URL_UNSAFE_RE.sub(lambda m: "%%%02X" % ord(m.group()), str(value)))


def format_count(n) -> str:
    return "{:,}".format(n)


def _finalize_markdown(value):
    # Every {{ }} in a .md template goes through here: safe by default, so a forgotten
    # filter can only show a stray backslash, never let markup in.
    if value is None:
        return ""
    return escape_markdown(value)


@functools.lru_cache(maxsize=None)
def html_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("goleak.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Sorted keys for byte-stable output; compact because 20,000 clusters add up.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    env.filters["num"] = format_count
    return env


@functools.lru_cache(maxsize=None)
def markdown_environment() -> jinja2.Environment:
    # autoescape on, so macros return Markup; finalize runs first and escapes for Markdown.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("goleak.report", "templates"),
        autoescape=True,
        finalize=_finalize_markdown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_count
    env.filters["h"] = escape_html_inline
    env.filters["url"] = escape_url
    return env


@functools.lru_cache(maxsize=None)
def asset(name: str) -> str:
    """The text of a static file in templates/ (our own CSS and JS, never dump data)."""
    env = html_environment()
    source, _, _ = env.loader.get_source(env, name)
    return source
