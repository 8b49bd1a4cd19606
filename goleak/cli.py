"""The command line: wires sources, analysis and renderers. No analysis lives here.

Exit codes: 0 ok; 1 a gate failed or a leak was found (when asked to fail on it);
2 usage error, unreadable input or anything else that stopped goleak from answering.
"""
import functools
import os
import shutil
import sys
import tempfile
from typing import Callable, List, Optional, Sequence

import click

from goleak import __version__
from goleak.errors import GoleakError, InputError, UsageError
from goleak.model import ParseResult
from goleak.normalize import SIMILARITIES
from goleak.parse import INPUT_FORMATS, ParseOptions
from goleak.report import Format, renderer_for
from goleak.report.view import ReportOptions
from goleak.sources import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FetchOptions, display_name, is_url, read_source

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

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
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            sys.exit(EXIT_OK)
        except MemoryError:
            fail("out of memory")
    return wrapper


# -- options shared by every analysis command -----------------------------------------
def input_options(fn: Callable) -> Callable:
    fn = click.option("--input-format", type=click.Choice(INPUT_FORMATS), default="auto", show_default=True,
                      help="Force the input format instead of detecting it from the content.")(fn)
    fn = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
                      help="Processes for reading a large debug=2 file [default: CPU count, at most 4].")(fn)
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
                      help="Show only the N largest clusters in text output.")(fn)
    fn = click.option("--full-paths", is_flag=True, help="Keep GOROOT and module-cache prefixes in file paths.")(fn)
    fn = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                      help="Colour in text output; auto means only on a terminal, and never when NO_COLOR is set.")(fn)
    return fn


def analysis_options(fn: Callable) -> Callable:
    fn = click.option("--similarity", type=click.Choice(SIMILARITIES), default="default", show_default=True,
                      help="How alike stacks must be to share a cluster: exact keeps argument values; "
                           "default drops them; loose also ignores line numbers, closure suffixes "
                           "(.func1) and the wait state.")(fn)
    return fn


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def load_sources(specs: Sequence[str], similarity: str, input_format: str, jobs: Optional[int],
                 timeout: float, max_bytes: int) -> List[ParseResult]:
    if not specs:
        raise UsageError("no source given; pass a file, - for stdin, or a URL")
    if list(specs).count("-") > 1:
        raise UsageError("stdin (-) can be read only once")
    parse_options = ParseOptions(keep_args=(similarity == "exact"), jobs=jobs or default_jobs(),
                                 input_format=input_format)
    fetch_options = FetchOptions(timeout=timeout, max_bytes=max_bytes)
    results = []
    for spec in specs:
        with Progress(display_name(spec)) as progress:
            results.append(read_source(spec, parse_options, fetch_options, progress.update))
    return results


class Progress:
    """Bytes read so far on stderr, on a terminal only, for reads that take a while."""

    def __init__(self, name: str):
        self.name = name
        self.on = sys.stderr.isatty() and not os.environ.get("GOLEAK_NO_PROGRESS")
        self.shown = False
        self.last = 0

    def update(self, done: int, total: Optional[int]) -> None:
        if not self.on or done - self.last < (32 << 20):
            return
        self.last = done
        pct = " (%d%%)" % (done * 100 // total) if total else ""
        sys.stderr.write("\rreading %s: %d MB%s   " % (self.name, done >> 20, pct))
        sys.stderr.flush()
        self.shown = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.shown:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
        return False


def use_color(choice: str, output: Optional[str]) -> bool:
    if choice == "always":
        return True
    if choice == "never" or output or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def report_options(full_paths: bool, top: Optional[int], color: str, output: Optional[str],
                   source_url: Optional[str] = None) -> ReportOptions:
    return ReportOptions(full_paths=full_paths, top=top, color=use_color(color, output), width=terminal_width(),
                         source_url=source_url, version=__version__)


def write_output(text: str, output: Optional[str], inputs: Sequence[str] = ()) -> None:
    """stdout, or a file written atomically (temp file + rename) that is not one of the inputs."""
    if not output or output == "-":
        click.echo(text, nl=False)
        return
    target = os.path.abspath(output)
    for spec in inputs:
        if spec != "-" and not is_url(spec) and os.path.exists(spec) and os.path.exists(target) \
                and os.path.samefile(spec, target):
            raise UsageError("refusing to overwrite %s: it is one of the inputs" % output)
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise UsageError("cannot write %s: directory %s does not exist" % (output, directory))
    fd, tmp = tempfile.mkstemp(prefix=".goleak-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError("cannot write %s: %s" % (output, e.strerror or e))


def render(view, fmt: str, options: ReportOptions) -> str:
    return renderer_for(Format(fmt))(view, options)


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
@input_options
@output_options
@handle_errors
def summary(sources, similarity, min_wait, input_format, jobs, timeout, max_bytes, fmt, output, top, full_paths, color):
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
    from goleak.report.view import build_summary_view
    from goleak.summary import DEFAULT_MIN_WAIT, SummarySettings, summarize
    results = load_sources(sources, similarity, input_format, jobs, timeout, max_bytes)
    for w in (w for r in results for s in r.snapshots for w in s.warnings):
        click.echo("goleak: warning: %s" % w, err=True)
    settings = SummarySettings(similarity=similarity, min_wait=DEFAULT_MIN_WAIT if min_wait is None else min_wait)
    view = build_summary_view(summarize(results, settings), report_options(full_paths, top, color, output))
    write_output(render(view, fmt, report_options(full_paths, top, color, output)), output, sources)


def run() -> None:
    main(prog_name="goleak")


if __name__ == "__main__":
    run()
