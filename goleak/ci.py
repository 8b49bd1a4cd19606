"""CI output for a gate result: GitHub Actions annotations and step summary, JUnit XML.

Pure functions, but for the two at the bottom that the CLI calls at its edge (reading go.mod,
rendering the Markdown report). The CLI decides whether it runs under GitHub Actions
(GITHUB_ACTIONS=true) and writes what these functions return: annotations go to stdout, where the runner reads workflow commands,
and the summary is appended to the file $GITHUB_STEP_SUMMARY names.
"""
import re
from typing import List, Optional, Tuple

from goleak.errors import UsageError
from goleak.gate import GateResult, LimitResult, Offender, describe_offender

# Characters XML 1.0 cannot hold at all, even escaped (a dump may carry any byte).
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# C:\src\app\conn.go, D:/app/conn.go   (an absolute Windows path)
_WINDOWS_ABS_RE = re.compile(r"^[A-Za-z]:[\\/]")
# module example.com/leakyserver   (the module line of a go.mod)
# [ \t], not \s: under MULTILINE a \s* runs over newlines (quadratic on blank lines).
_GO_MOD_MODULE_RE = re.compile(r"^[ \t]*module[ \t]+\"?([^\s\"]+)\"?[ \t]*\r?$", re.MULTILINE)


def module_path(go_mod_text: str) -> Optional[str]:
    m = _GO_MOD_MODULE_RE.search(go_mod_text)
    return m.group(1) if m else None


# -- GitHub Actions ------------------------------------------------------------------------------
def _escape_data(text: str) -> str:
    # The runner's own escaping for a workflow command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def repo_relative(file: str, workspace: Optional[str], module: Optional[str]) -> Optional[str]:
    """A frame's file as a path in the repository, or None when it lies outside it.

    /home/runner/work/app/app/srv/conn.go (a plain build)   -> srv/conn.go (under GITHUB_WORKSPACE)
    example.com/app/srv/conn.go (-trimpath: module path)    -> srv/conn.go (module from go.mod)
    """
    if not file:
        return None
    if workspace:
        ws = workspace.rstrip("/") + "/"
        if file.startswith(ws):
            return file[len(ws):]
    if module:
        prefix = module.rstrip("/") + "/"
        if file.startswith(prefix):
            return file[len(prefix):]
    if file.startswith("/") or _WINDOWS_ABS_RE.match(file):
        return None  # absolute, outside the checkout: GOROOT, module cache, another machine
    return file


def _suspects(result: GateResult) -> List[Tuple[LimitResult, Offender]]:
    seen = set()
    out = []
    for r in result.broken:
        for o in r.offenders:
            if (r.name, o.id) not in seen:
                seen.add((r.name, o.id))
                out.append((r, o))
    return out


def github_annotations(result: GateResult, workspace: Optional[str] = None, module: Optional[str] = None
                       ) -> Tuple[str, ...]:
    """`::error file=F,line=L,title=T::message`, one per blamed cluster of each broken limit,
    placed on the cluster's innermost user frame; a limit that blames no cluster gets one
    annotation without a place."""
    lines = []
    for r in result.broken:
        if not r.offenders:
            lines.append("::error title=%s::%s" % (_escape_property("goleak gate: " + r.name),
                                                   _escape_data(r.detail)))
    for r, o in _suspects(result):
        props = []
        path = repo_relative(o.where.file, workspace, module) if o.where is not None else None
        if path is not None:
            props.append("file=" + _escape_property(path))
            if o.where.line:
                props.append("line=%d" % o.where.line)
        props.append("title=" + _escape_property("goleak gate: " + r.name))
        message = describe_offender(o)
        if o.created_by is not None:
            message += "; created by %s" % o.created_by.function
        lines.append("::error %s::%s" % (",".join(props), _escape_data(message)))
    return tuple(lines)


def _md_cell(text: str) -> str:
    # Table cells: a pipe ends a cell and a newline ends the row; < and backticks could
    # open markup. Dump text is data, so it is escaped, never trusted.
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\r", " ").replace("\n", " "))


def step_summary(result: GateResult, report_markdown: Optional[str] = None) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: the verdict, a table of limits, then the report."""
    n = len(result.results)
    limits = "limit" if n == 1 else "limits"
    if result.passed:
        head = "## goleak gate: passed\n\n%d of %d %s held (%d goroutines in %s)." % (
            n, n, limits, result.last_total, _md_cell(result.last_name))
    else:
        head = "## goleak gate: failed\n\n%d of %d %s broken (%d goroutines in %s)." % (
            len(result.broken), n, limits, result.last_total, _md_cell(result.last_name))
    rows = ["| limit | value | result | details |", "|---|---|---|---|"]
    for r in result.results:
        rows.append("| %s | %s | %s | %s |" % (_md_cell(r.name), _md_cell(r.limit),
                                              "ok" if r.ok else "**FAIL**", _md_cell(r.detail)))
    parts = [head, "\n".join(rows)]
    if report_markdown:
        parts.append(report_markdown.rstrip("\n"))
    return "\n\n".join(parts) + "\n"


# -- JUnit XML -----------------------------------------------------------------------------------
def _xml_text(text: str) -> str:
    text = _XML_INVALID_RE.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(text: str) -> str:
    return '"%s"' % _xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;") \
        .replace("\t", "&#9;")


def junit_xml(result: GateResult, suite: str = "goleak gate") -> str:
    """One <testcase> per limit; a broken limit carries a <failure> naming its clusters."""
    failures = len(result.broken)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           "<testsuites name=%s tests=\"%d\" failures=\"%d\" errors=\"0\">" % (_xml_attr(suite), len(result.results),
                                                                              failures),
           "  <testsuite name=%s tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\">" % (
               _xml_attr(suite), len(result.results), failures)]
    for r in result.results:
        name = _xml_attr(r.name)
        if r.ok:
            out.append("    <testcase classname=\"goleak.gate\" name=%s>" % name)
            out.append("      <system-out>%s</system-out>" % _xml_text(r.detail))
            out.append("    </testcase>")
            continue
        body = [r.detail] + ["- " + describe_offender(o) + (
            "; created by %s" % o.created_by.function if o.created_by else "") for o in r.offenders]
        out.append("    <testcase classname=\"goleak.gate\" name=%s>" % name)
        out.append("      <failure message=%s type=\"goleak.limit\">%s</failure>" % (
            _xml_attr("%s: %s (limit %s)" % (r.name, r.actual, r.limit)), _xml_text("\n".join(body))))
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"



# -- the edge: what the CLI reads and renders for CI ---------------------------------------------
def github_context(env) -> Tuple[Optional[str], Optional[str]]:
    """(GITHUB_WORKSPACE, the module path of its go.mod): how frame files map to repo paths."""
    import os
    workspace = env.get("GITHUB_WORKSPACE") or os.getcwd()
    module = None
    try:
        with open(os.path.join(workspace, "go.mod"), encoding="utf-8", errors="replace") as f:
            module = module_path(f.read(65536))
    except OSError:
        pass
    return workspace, module


def markdown_report(outcome, results, settings, options) -> Optional[str]:
    """The Markdown report of what the gate read: the comparison, or the summary of one snapshot.
    None when the Markdown renderer is not available."""
    from goleak.report import Format, renderer_for
    from goleak.report.gate_view import build_report_view
    try:
        render = renderer_for(Format.MARKDOWN)
    except UsageError:
        return None
    view = build_report_view(outcome, results, settings, options)
    try:
        return render(view, options)
    except (KeyError, UsageError):
        return None  # this view has no Markdown renderer (yet): the limits table stands alone
