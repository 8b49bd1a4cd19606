"""The command line: wires sources, analysis and renderers. No analysis lives here.

Exit codes: 0 ok; 1 a gate failed or a leak was found (when asked to fail on it);
2 usage error, unreadable input or anything else that stopped goleak from answering.
"""
import functools
import gc
import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Sequence, Union

import click

from goleak import __version__
from goleak.errors import GoleakError, InputError, UsageError
from goleak.model import ParseResult
from goleak.normalize import SIMILARITIES
from goleak.parse import INPUT_FORMATS, ParseOptions, Parsed
from goleak.report import Format, renderer_for
from goleak.sources import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FetchOptions, display_name, is_url, read_source

if TYPE_CHECKING:
    from goleak.report.view import ReportOptions

# The view model, the summary and file output are imported where they are used: a summary of a
# large dump forks its parse children before it needs them (30 ms of start-up).

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# The parsed sources of a run of the console script, held until leave() ends the process:
# freed one object at a time when a command returns, a 20,000-stack dump took 0.05 s for
# nothing. None (nothing held) unless run() started the command: tests run many commands in
# one process.
_held_until_exit: Optional[list] = None

SOURCE_HELP = "SRC is a file, - for stdin, or an http(s) URL such as http://127.0.0.1:6060/debug/pprof/goroutine?debug=2."


def fail(message: str) -> "NoReturn":  # noqa: F821
    click.echo("goleak: error: " + message, err=True)
    sys.exit(EXIT_ERROR)


def handle_errors(fn: Callable) -> Callable:
    """Every GoleakError becomes one line on stderr and exit 2; never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GoleakError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("goleak: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # `goleak summary big.txt | head`: the reader left; that is not an error.
            _drop_stdout()
            sys.exit(EXIT_OK)
        except MemoryError:
            fail("out of memory")
    return wrapper


# -- options shared by every analysis command -----------------------------------------
def input_options(fn: Callable) -> Callable:
    fn = click.option("--input-format", type=click.Choice(INPUT_FORMATS), default="auto", show_default=True,
                      help="Force the input format instead of detecting it from the content.")(fn)
    fn = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
                      help="Processes to use: for reading a large debug=2 file, and (a summary of many "
                           "distinct stacks) for the stages after the parse; 1 keeps everything in one "
                           "[default: CPU count, at most 4].")(fn)
    fn = click.option("--timeout", type=click.FloatRange(0.1), default=DEFAULT_TIMEOUT, show_default=True,
                      help="Seconds to wait for a URL source to connect or send data.")(fn)
    fn = click.option("--max-bytes", type=click.IntRange(1), default=DEFAULT_MAX_BYTES, show_default=True,
                      help="Refuse sources larger than this many bytes (after decompression).")(fn)
    return fn


def output_options(fn: Callable) -> Callable:
    fn = click.option("--format", "-f", "fmt", type=click.Choice([f.value for f in Format]), default="text",
                      show_default=True, help="Report format.")(fn)
    fn = click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                      help="Write the report to this file (atomically) instead of stdout.")(fn)
    fn = click.option("--top", type=click.IntRange(1), default=None,
                      help="Show only the N largest clusters in text and Markdown output (HTML and JSON hold all).")(fn)
    fn = click.option("--full-paths", is_flag=True, help="Keep GOROOT and module-cache prefixes in file paths.")(fn)
    fn = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                      help="Colour in text output; auto means only on a terminal, and never when NO_COLOR is set.")(fn)
    return fn


def report_file_options(fn: Callable) -> Callable:
    """--format and -o for gate and watch, whose text output is their own (limits, polls)."""
    fn = click.option("--format", "-f", "fmt", type=click.Choice([f.value for f in Format]), default="text",
                      show_default=True, help="Report format: text is the command's own lines; markdown, html "
                                              "and json add the analysis report behind them.")(fn)
    fn = click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                      help="Write the report to this file (atomically) instead of stdout.")(fn)
    return fn


def link_options(fn: Callable) -> Callable:
    fn = click.option("--source-url", default=None, metavar="TEMPLATE",
                      help="Link frames to your code in HTML and Markdown reports, e.g. "
                           "'https://github.com/org/repo/blob/main/{path}#L{line}'. Placeholders: {path} (the file "
                           "relative to the repository), {line}, {file} (as printed). Runtime, standard-library "
                           "and module-cache frames get no link.")(fn)
    fn = click.option("--source-strip", multiple=True, metavar="PREFIX",
                      help="Remove PREFIX from file paths to make {path} (repeatable), e.g. "
                           "example.com/svc/ or /home/ci/src/repo/ [default: github.com/org/repo/-style "
                           "module paths lose host/owner/repo].")(fn)
    return fn


def analysis_options(fn: Callable) -> Callable:
    fn = click.option("--similarity", type=click.Choice(SIMILARITIES), default="default", show_default=True,
                      help="How alike stacks must be to share a cluster: exact keeps argument values; "
                           "default drops them; loose also ignores line numbers, closure suffixes "
                           "(.func1) and the wait state.")(fn)
    return fn


def ignore_options(fn: Callable) -> Callable:
    fn = click.option("--ignore", "ignore", multiple=True, metavar="REGEX",
                      help="Hide goroutines with a frame or created-by function matching REGEX (Python "
                           "regex, searched; repeatable; added to the config file's list).")(fn)
    fn = click.option("--no-default-ignores", is_flag=True, default=False,
                      help="Show the goroutines the default ignore list hides: the os/signal receiver, "
                           "the test runner, the runtime/trace reader, the pprof dump writer, "
                           "runtime-internal goroutines.")(fn)
    fn = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                      help="Read settings from this file (.goleak.toml keys, or a pyproject.toml's "
                           "[tool.goleak]) [default: the nearest .goleak.toml or pyproject.toml with "
                           "[tool.goleak], from here up to the repository root].")(fn)
    return fn


def resolve_config(ctx: click.Context, config_path: Optional[str], **options):
    """The config file's settings under those given on this command line.

    Only options the user typed override the file: click's parameter source tells a typed
    `--similarity default` from the default value.
    """
    from goleak.config import load_config, with_overrides
    given = {}
    for name, value in options.items():
        param = "no_default_ignores" if name == "default_ignores" else name
        if ctx.get_parameter_source(param) in (click.core.ParameterSource.COMMANDLINE,
                                               click.core.ParameterSource.ENVIRONMENT):
            given[name] = value
    return with_overrides(load_config(config_path), given)


def number_or_off(value: Optional[str]):
    """--fuzzy-cutoff: a number, or the word off (validated with the config's rules)."""
    if value is None or value == "off":
        return value
    try:
        return float(value)
    except ValueError:
        raise UsageError('--fuzzy-cutoff must be a number from 0 to 100, or "off", not %r' % value)


def ignore_rules(config):
    from goleak.ignore import build_ignore_rules
    return build_ignore_rules(config.ignore, config.default_ignores)


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def load_sources(specs: Sequence[str], similarity: str, input_format: str, jobs: Optional[int],
                 timeout: float, max_bytes: int, finish: bool = True) -> List[Parsed]:
    """ParseResults of specs, or UnfinishedResults with finish=False (see goleak/shards.py)."""
    if not specs:
        raise UsageError("no source given; pass a file, - for stdin, or a URL")
    if list(specs).count("-") > 1:
        raise UsageError("stdin (-) can be read only once")
    parse_options = ParseOptions(keep_args=(similarity == "exact"), jobs=jobs or default_jobs(),
                                 input_format=input_format, finish=finish)
    fetch_options = FetchOptions(timeout=timeout, max_bytes=max_bytes)
    results = []
    for spec in specs:
        with Progress(display_name(spec)) as progress:
            results.append(read_source(spec, parse_options, fetch_options, progress.update))
    if _held_until_exit is not None:
        _held_until_exit.append(results)
    return results


class Progress:
    """Bytes read so far on stderr, on a terminal only, once a read has taken a while.

    Time-based, not size-based: a slow 20 MB download deserves a progress line as much as a
    fast 2 GB file, and a quick read should print nothing at all.
    """

    DELAY = 1.0  # seconds before the first line
    EVERY = 0.25  # seconds between updates

    def __init__(self, name: str, stream=None, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.stream = stream if stream is not None else sys.stderr
        self.on = self.stream.isatty() and not os.environ.get("GOLEAK_NO_PROGRESS")
        self.clock = clock
        self.next = clock() + self.DELAY
        self.shown = False

    def update(self, done: int, total: Optional[int]) -> None:
        if not self.on:
            return
        now = self.clock()
        if now < self.next:
            return
        self.next = now + self.EVERY
        pct = " (%d%%)" % (done * 100 // total) if total else ""
        self.stream.write("\rreading %s: %.1f MB%s   " % (self.name, done / (1 << 20), pct))
        self.stream.flush()
        self.shown = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.shown:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()
        return False


def use_color(choice: str, output: Optional[str]) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def terminal_width(output: Optional[str] = None) -> int:
    """The terminal's columns; 0 (no limit) for a file or a pipe unless COLUMNS says otherwise."""
    if output or not (sys.stdout.isatty() or os.environ.get("COLUMNS")):
        return 0
    return shutil.get_terminal_size((100, 24)).columns


def report_options(full_paths: bool, top: Optional[int], color: str, output: Optional[str],
                   source_url: Optional[str] = None, source_strip: Sequence[str] = ()) -> "ReportOptions":
    from goleak.report.view import ReportOptions, check_source_url
    return ReportOptions(full_paths=full_paths, top=top, color=use_color(color, output),
                         width=terminal_width(output),
                         source_url=check_source_url(source_url) if source_url else None,
                         source_strip=tuple(source_strip), version=__version__)


def _drop_stdout() -> None:
    """Send what is still buffered for a stdout whose reader left nowhere, so that flushing
    it at exit raises nothing."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


def write_output(report: Union[str, Iterable[Union[str, bytes]]], output: Optional[str],
                 inputs: Sequence[str] = ()) -> None:
    """The report (its text, or its pieces in order, text or UTF-8 bytes) to stdout, or to a
    file written atomically (temp file + rename) that is not one of the inputs."""
    if not output or output == "-":
        # color=True: keep the codes the renderer chose to write (--color always through a
        # pipe); click would strip them. Renderers emit none unless colour was asked for.
        try:
            for piece in [report] if isinstance(report, str) else report:
                click.echo(piece, nl=False, color=True)
            sys.stdout.flush()
        except BrokenPipeError:
            # `goleak gate ... | head`: the reader left. The command goes on, so that a gate
            # or --fail-on-leak still tells its verdict on stderr and by its exit code.
            _drop_stdout()
        return
    from goleak.output import write_atomic
    target = os.path.abspath(output)
    for spec in inputs:
        if spec != "-" and not is_url(spec) and os.path.exists(spec) and os.path.exists(target) \
                and os.path.samefile(spec, target):
            raise UsageError("refusing to overwrite %s: it is one of the inputs" % output)
    write_atomic(output, report.encode("utf-8") if isinstance(report, str) else
                 (p.encode("utf-8") if isinstance(p, str) else p for p in report))


def render(view, fmt: str, options: "ReportOptions") -> str:
    return renderer_for(Format(fmt), view)(view, options)


# -- commands -----------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="goleak")
def main() -> None:
    """Find goroutine leaks in Go goroutine dumps.

    goleak reads every form a Go engineer holds — /debug/pprof/goroutine?debug=2 text,
    debug=1 and debug=0 (protobuf) profiles, panics, SIGQUIT dumps and logs around them —
    folds identical stacks into clusters, compares snapshots and names the stacks that leaked.

    \b
    Examples:
      curl -s localhost:6060/debug/pprof/goroutine?debug=2 | goleak summary -
      goleak summary crash.log --top 10
      goleak compare before.txt during.txt after.txt --format html -o leak.html
      goleak gate --max-goroutines 200 http://127.0.0.1:6060/debug/pprof/goroutine?debug=2

    Exit codes: 0 ok, 1 a gate failed or a leak was found (when asked), 2 usage or input error.
    """


@main.command()
@click.argument("sources", nargs=-1, metavar="SRC...")
@analysis_options
@click.option("--min-wait", type=click.IntRange(0), default=None,
              help="Minutes blocked that earn the long-wait flag [default: 10].")
@ignore_options
@input_options
@output_options
@link_options
@click.pass_context
@handle_errors
def summary(ctx, sources, similarity, min_wait, ignore, no_default_ignores, config_path, input_format, jobs, timeout,
            max_bytes, fmt, output, top, full_paths, color, source_url, source_strip):
    """Fold one or more dumps into clusters, largest first, with suspects.

    Several sources (a fleet of pods) are merged into one summary. A file holding several
    dumps (a log with repeated stack dumps, concatenated profiles) counts them all.

    \b
    Examples:
      goleak summary goroutines.txt
      curl -s http://127.0.0.1:6060/debug/pprof/goroutine?debug=2 | goleak summary -
      goleak summary pod-*.txt --format json -o summary.json
      goleak summary crash.log --similarity loose --top 5
    """
    config = resolve_config(ctx, config_path, similarity=similarity, min_wait=min_wait, ignore=ignore,
                            default_ignores=not no_default_ignores)
    # Unfinished: with many distinct stacks, a JSON summary runs the stages after the parse
    # in two processes, shard by shard (goleak/shards.py).
    results = load_sources(sources, config.similarity, input_format, jobs, timeout, max_bytes, finish=False)
    # Imported after the parse (13 ms): a parallel parse forks its children that much sooner.
    from goleak.summary import SummarySettings
    from goleak.summary_report import render_summary_report
    settings = SummarySettings(similarity=config.similarity, min_wait=config.min_wait, ignore=ignore_rules(config))
    options = report_options(full_paths, top, color, output, source_url, source_strip)
    report = render_summary_report(results, settings, options, fmt, jobs or default_jobs())
    for w in report.warnings:
        click.echo("goleak: warning: %s" % w, err=True)
    write_output(report.chunks, output, sources)


@main.command()
@click.argument("sources", nargs=-1, metavar="SRC...")
@click.option("--names", default=None, metavar="A,B,...",
              help="Comma-separated phase names, one per snapshot, e.g. before,during,after "
                   "[default: the file names; the 2nd dump of x.log is x#2].")
@analysis_options
@click.option("--fuzzy-cutoff", default=None, metavar="0-100|off",
              help="Lowest rapidfuzz score (over the sequence of function names) at which a stack with "
                   "no exact partner is matched to one missing from that snapshot; off matches exact "
                   "keys only [default: 90].")
@click.option("--min-growth", type=click.IntRange(1), default=None,
              help="Growth from first to last, in goroutines, below which a stack is noise, not a leak "
                   "[default: 2].")
@click.option("--min-growth-pct", type=click.FloatRange(0), default=None,
              help="...and in percent of its first count; growth must reach both [default: 10].")
@click.option("--min-wait", type=click.IntRange(0), default=None,
              help="Minutes blocked that earn the long-wait flag; a long wait makes even small growth a "
                   "leak [default: 10].")
@click.option("--fail-on-leak/--no-fail-on-leak", default=False,
              help="Exit 1 when any stack's verdict is leak.")
@ignore_options
@input_options
@output_options
@link_options
@click.pass_context
@handle_errors
def compare(ctx, sources, names, similarity, fuzzy_cutoff, min_growth, min_growth_pct, min_wait, fail_on_leak,
            ignore, no_default_ignores, config_path, input_format, jobs, timeout, max_bytes, fmt, output, top,
            full_paths, color, source_url, source_strip):
    """Compare snapshots taken before, during and after a workload; name the leaks.

    Each stack gets its count in every snapshot and a verdict: leak, draining, transient,
    noise, shrinking, gone or stable. Suspects (the leaks, most certain first) lead the
    report. A file holding several dumps gives one snapshot each. Inputs may mix formats
    (a debug=1 before, a debug=2 after).

    \b
    Examples:
      goleak compare before.txt after.txt
      goleak compare before.txt during.txt after.txt --fail-on-leak
      goleak compare a.txt b.txt c.txt --names before,during,after --format json -o cmp.json
      goleak compare http://127.0.0.1:6060/debug/pprof/goroutine?debug=1 after.txt
    """
    from goleak.compare import compare_results
    from goleak.report.compare_view import build_compare_view
    config = resolve_config(ctx, config_path, similarity=similarity, fuzzy_cutoff=number_or_off(fuzzy_cutoff),
                            min_growth=min_growth, min_growth_pct=min_growth_pct, min_wait=min_wait,
                            fail_on_leak=fail_on_leak, ignore=ignore, default_ignores=not no_default_ignores)
    results = load_sources(sources, config.similarity, input_format, jobs, timeout, max_bytes)
    echo_warnings(results)
    comparison = compare_results(results, names.split(",") if names is not None else None, compare_settings(config))
    options = report_options(full_paths, top, color, output, source_url, source_strip)
    write_output(render(build_compare_view(comparison, options), fmt, options), output, sources)
    if config.fail_on_leak and comparison.leaks:
        sys.exit(EXIT_FINDINGS)


# -- gate, baseline, capture, watch (CI and live services) --------------------------
def compare_settings(config):
    from goleak.compare import CompareSettings
    return CompareSettings(similarity=config.similarity, fuzzy_cutoff=config.fuzzy_cutoff, min_wait=config.min_wait,
                           min_growth=config.min_growth, min_growth_pct=config.min_growth_pct,
                           ignore=ignore_rules(config))


def echo_warnings(results: Sequence[ParseResult]) -> None:
    for w in (w for r in results for s in r.snapshots for w in s.warnings):
        click.echo("goleak: warning: %s" % w, err=True)


def read_text_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise InputError("cannot read: %s" % (e.strerror or e), path)


def append_text_file(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError("cannot append to %s: %s" % (path, e.strerror or e))


@main.command()
@click.argument("sources", nargs=-1, metavar="SRC...")
@click.option("--max-goroutines", type=click.IntRange(0), default=None, metavar="N",
              help="Fail when the last snapshot holds more than N goroutines.")
@click.option("--max-growth", default=None, metavar="N|P%",
              help="Fail when the total grew by more than N goroutines (or P percent) from the first "
                   "source, or the --baseline file, to the last.")
@click.option("--max-leaks", type=click.IntRange(0), default=None, metavar="N",
              help="Fail when more than N stacks have the verdict leak (with one snapshot and no "
                   "--baseline: stacks the runtime proved leaked).")
@click.option("--fail-on", type=click.Choice(["leak", "long-wait", "runtime-leaked"]), multiple=True,
              help="Fail when any stack is a leak, waits --min-wait minutes or more, or was proven "
                   "leaked by the runtime. Repeatable.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), default=None,
              help="A file written by `goleak baseline`: fail on any stack it does not know, or one "
                   "grown past its tolerance.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None,
              help="Also write JUnit XML to this file: one testcase per limit.")
@analysis_options
@click.option("--fuzzy-cutoff", type=click.FloatRange(0, 100), default=None,
              help="Lowest rapidfuzz score at which a stack matches one of the baseline or first "
                   "snapshot, as in compare [default: 90].")
@click.option("--min-wait", type=click.IntRange(0), default=None,
              help="Minutes blocked that earn the long-wait flag [default: 10].")
@ignore_options
@input_options
@report_file_options
@click.pass_context
@handle_errors
def gate(ctx, sources, max_goroutines, max_growth, max_leaks, fail_on, baseline_path, junit, similarity,
         fuzzy_cutoff, min_wait, ignore, no_default_ignores, config_path, input_format, jobs, timeout, max_bytes,
         fmt, output):
    """Fail a CI job on goroutine counts, growth, leaks or new kinds of goroutines.

    Exit 0 when every limit holds, 1 when one is broken (stderr: one line per broken limit,
    naming the stack and the numbers), 2 when the gate could not run. With two or more
    sources the first is the baseline for growth, and leaks are compare's verdicts.

    Under GitHub Actions (GITHUB_ACTIONS=true) each blamed stack also becomes an ::error
    annotation on its innermost user frame, and the Markdown report is appended to
    $GITHUB_STEP_SUMMARY.

    \b
    Examples:
      curl -s http://127.0.0.1:6060/debug/pprof/goroutine?debug=2 | goleak gate --max-goroutines 500 -
      goleak gate before.txt after.txt --max-growth 10% --fail-on leak --junit goleak.xml
      goleak gate --baseline goleak-baseline.json http://127.0.0.1:6060/debug/pprof/goroutine?debug=2
      goleak gate before.txt after.txt --fail-on leak --format json -o gate.json
    """
    from goleak import ci
    from goleak.baseline import load_baseline
    from goleak.gate import Limits, broken_lines, parse_growth, require_limits, run_gate
    from goleak.report.gate_view import build_gate_view, build_report_view, shows_report
    config = resolve_config(ctx, config_path, similarity=similarity, fuzzy_cutoff=number_or_off(fuzzy_cutoff), min_wait=min_wait,
                            ignore=ignore, default_ignores=not no_default_ignores)
    limits = Limits(max_goroutines=max_goroutines, max_growth=parse_growth(max_growth) if max_growth else None,
                    max_leaks=max_leaks, fail_on=tuple(fail_on))
    baseline = load_baseline(read_text_file(baseline_path), baseline_path) if baseline_path else None
    require_limits(limits, baseline)  # before a URL is fetched
    results = load_sources(sources, config.similarity, input_format, jobs, timeout, max_bytes)
    echo_warnings(results)
    settings = compare_settings(config)
    outcome = run_gate(results, limits, settings, baseline)
    options = report_options(False, None, "never", output)
    report = build_report_view(outcome, results, settings, options) if shows_report(Format(fmt)) else None
    write_output(render(build_gate_view(outcome, report, options), fmt, options), output, sources)
    for line in broken_lines(outcome.result):
        click.echo("goleak: " + line, err=True)
    if junit:
        write_output(ci.junit_xml(outcome.result), junit, sources)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        workspace, module = ci.github_context(os.environ)
        for line in ci.github_annotations(outcome.result, workspace, module):
            click.echo(line)
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            report = ci.markdown_report(outcome, results, settings, report_options(False, None, "never", "-"))
            append_text_file(summary_path, ci.step_summary(outcome.result, report))
    sys.exit(EXIT_OK if outcome.result.passed else EXIT_FINDINGS)


@main.command("baseline")
@click.argument("source", metavar="SRC")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="The baseline file to write (atomically), e.g. goleak-baseline.json.")
@click.option("--tolerance", default="100%", show_default=True, metavar="N|P%",
              help="How far each stack may grow before `gate --baseline` fails: N more goroutines, or "
                   "P percent more (rounded up). Stored per stack as max_count; edit it by hand if needed.")
@analysis_options
@input_options
@handle_errors
def baseline_command(source, output, tolerance, similarity, input_format, jobs, timeout, max_bytes):
    """Record the known kinds of goroutines of SRC, for `goleak gate --baseline`.

    The file lists every stack with its count, max_count (count + tolerance), frames and the
    text fuzzy matching compares. Commit it; the gate then fails on any new kind of goroutine
    or on one grown past its max_count, like a snapshot test.

    \b
    Examples:
      goleak baseline http://127.0.0.1:6060/debug/pprof/goroutine?debug=2 -o goleak-baseline.json
      goleak baseline steady.txt -o goleak-baseline.json --tolerance 5
    """
    from goleak.baseline import baseline_to_json, build_baseline
    from goleak.cluster import cluster_snapshots
    from goleak.gate import parse_growth
    growth = parse_growth(tolerance, "--tolerance")
    results = load_sources([source], similarity, input_format, jobs, timeout, max_bytes)
    echo_warnings(results)
    snapshots = [s for r in results for s in r.snapshots]
    if len(snapshots) != 1:
        raise UsageError("%s holds %d dumps; a baseline is recorded from one" % (display_name(source), len(snapshots)))
    snap = snapshots[0]
    b = build_baseline(display_name(source), snap.total, cluster_snapshots(snapshots, similarity), similarity,
                       growth, __version__, snap.format)
    write_output(baseline_to_json(b), output, [source])
    click.echo("goleak: recorded %d stacks (%d goroutines) from %s in %s, tolerance %s" % (
        len(b.clusters), b.total, b.source, output, b.tolerance), err=True)


def fetch_options_decorator(fn: Callable) -> Callable:
    """--profile and --debug: which profile of a pprof server, in which form."""
    fn = click.option("--profile", type=click.Choice(["goroutine", "goroutineleak"]), default=None,
                      help="goroutine (every goroutine), or goroutineleak (those the runtime's GC proved "
                           "leaked; Go 1.26+) [default: goroutine, or the profile the URL names].")(fn)
    fn = click.option("--debug", "debug_level", type=click.IntRange(0, 2), default=None, metavar="0|1|2",
                      help="Form: 2 full text with states and waits, 1 aggregated text, 0 gzipped "
                           "protobuf [default: 2, or the URL's debug parameter].")(fn)
    return fn


@main.command()
@click.argument("url")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="The file to write (atomically); - for stdout.")
@fetch_options_decorator
@input_options
@handle_errors
def capture(url, output, profile, debug_level, input_format, jobs, timeout, max_bytes):
    """Save a goroutine snapshot from a pprof endpoint to a file (no curl needed).

    URL is the server (http://127.0.0.1:6060) or a full profile URL. The body is checked to
    be a goroutine dump before anything is written.

    \b
    Examples:
      goleak capture http://127.0.0.1:6060 -o before.txt
      goleak capture http://127.0.0.1:6060 --profile goroutineleak -o leaked.txt
      goleak capture http://127.0.0.1:6060 --debug 0 -o goroutines.pb.gz
    """
    from goleak.capture import profile_url
    from goleak.sources import fetch_bytes, parse_source_bytes
    target = profile_url(url, profile, debug_level)
    name = display_name(target)
    with Progress(name) as progress:
        data = fetch_bytes(target, FetchOptions(timeout=timeout, max_bytes=max_bytes), progress.update)
    result = parse_source_bytes(data, name, ParseOptions(jobs=1, input_format=input_format, max_bytes=max_bytes),
                                target)
    if output == "-":
        click.get_binary_stream("stdout").write(data)
    else:
        from goleak.output import write_atomic
        write_atomic(output, data)
    snap = result.snapshots[-1]
    click.echo("goleak: saved %s (%s, %d goroutines, %d bytes) to %s" % (
        name, snap.format, snap.total, len(data), "stdout" if output == "-" else output), err=True)


@main.command()
@click.argument("url")
@click.option("--interval", default="5s", show_default=True, help="Time between polls: 500ms, 5s, 10m, 1h.")
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after N polls.")
@click.option("--duration", default=None, help="Stop after this long: 30s, 10m, 1h.")
@click.option("--forever", is_flag=True, help="Run until Ctrl-C (a watch must otherwise end by itself).")
@click.option("--save-dir", type=click.Path(file_okay=False), default=None,
              help="Keep every snapshot in this directory, named goroutine-<UTC time>-<poll>.txt.")
@click.option("--fail-on-leak", is_flag=True, help="Exit 1 when the verdict names a leak.")
@fetch_options_decorator
@analysis_options
@click.option("--min-wait", type=click.IntRange(0), default=None,
              help="Minutes blocked that earn the long-wait flag [default: 10].")
@ignore_options
@input_options
@report_file_options
@click.pass_context
@handle_errors
def watch(ctx, url, interval, count, duration, forever, save_dir, fail_on_leak, profile, debug_level, similarity,
          min_wait, ignore, no_default_ignores, config_path, input_format, jobs, timeout, max_bytes, fmt, output):
    """Poll a live pprof endpoint; a line per poll, then a verdict over the whole series.

    Each line shows the time (UTC), the total, the change since the last poll and the stacks
    that grew most. The verdict comes from the compare engine over every snapshot: a stack
    that kept growing is a leak. Ctrl-C ends the watch with the verdict so far.

    \b
    Examples:
      goleak watch http://127.0.0.1:6060 --interval 5s --duration 10m
      goleak watch http://127.0.0.1:6060 --interval 500ms --count 20 --save-dir snapshots/
      goleak watch http://127.0.0.1:6060 --interval 1s --count 30 --format json -o watch.json
    """
    from goleak.capture import profile_url
    from goleak.report.gate_view import shows_report
    from goleak.report.watch_view import build_watch_view, poll_lines_to_stderr
    from goleak.sources import fetch_bytes, parse_source_bytes
    from goleak.watch import WatchIO, WatchPlan, check_plan, judge_series, parse_duration, run_watch
    gc.enable()
    config = resolve_config(ctx, config_path, similarity=similarity, min_wait=min_wait, ignore=ignore,
                            default_ignores=not no_default_ignores)
    target = profile_url(url, profile, debug_level)
    plan = check_plan(WatchPlan(url=target, interval=parse_duration(interval, "--interval"), count=count,
                                duration=parse_duration(duration, "--duration") if duration else None,
                                forever=forever))
    if save_dir:
        try:
            os.makedirs(save_dir, exist_ok=True)
        except OSError as e:
            raise UsageError("cannot create %s: %s" % (save_dir, e.strerror or e))
    from goleak.output import check_output_dir, write_atomic
    check_output_dir(output)  # now, not after a ten-minute watch
    lines_to_stderr = poll_lines_to_stderr(Format(fmt), output)
    fetch_opts = FetchOptions(timeout=timeout, max_bytes=max_bytes)
    parse_opts = ParseOptions(keep_args=(config.similarity == "exact"), jobs=1, input_format=input_format,
                              max_bytes=max_bytes)
    io = WatchIO(
        fetch=lambda: fetch_bytes(target, fetch_opts),
        parse=lambda body, name: parse_source_bytes(body, name, parse_opts, target).snapshots[-1],
        wall_clock=time.time, monotonic=time.monotonic, sleep=time.sleep,
        emit=lambda line: click.echo(line, err=lines_to_stderr),
        save=(lambda name, data: write_atomic(os.path.join(save_dir, name), data)) if save_dir else None)
    end = "%d polls" % count if count else ("for %s" % duration if duration else "until Ctrl-C")
    click.echo("goleak: watching %s every %s, %s; Ctrl-C ends it with the verdict so far" % (
        display_name(target), interval, end), err=True)
    settings = compare_settings(config)
    series = run_watch(plan, io, config.similarity)
    verdict = judge_series(series, settings)
    options = report_options(False, None, "never", output)
    view = build_watch_view(display_name(target), series, verdict, settings, options, shows_report(Format(fmt)))
    write_output(render(view, fmt, options), output)
    sys.exit(EXIT_FINDINGS if fail_on_leak and verdict.leaks else EXIT_OK)


def run() -> None:
    """The `goleak` console script and `python -m goleak`."""
    # One run builds millions of small objects with no reference cycles among them (rows,
    # frames, tallies); the cyclic collector's passes over them cost a fifth of a large
    # parse and free nothing. `watch`, which runs for hours, turns it back on.
    gc.disable()
    global _held_until_exit
    _held_until_exit = []
    try:
        main(prog_name="goleak")
    except SystemExit as e:
        code = e.code
    else:
        code = EXIT_OK
    leave(code)


def leave(code) -> None:
    """Exit without freeing every object one by one: after a 20,000-stack dump that takes
    a tenth of a second and changes nothing (reports are written and closed by then; only
    stdout and stderr are still buffered, and they are flushed here)."""
    if not isinstance(code, int):
        # sys.exit("message") and sys.exit(None), as the interpreter reads them
        if code is not None:
            print(code, file=sys.stderr)
        code = EXIT_OK if code is None else 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        # A closed pipe (`goleak summary big.txt | head`): let the interpreter report it
        # as it always does.
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    run()
