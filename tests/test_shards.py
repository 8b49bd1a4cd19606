"""A summary split between two processes (goleak/shards.py) is byte for byte the one-process
summary, and every stack of a cluster falls in the same share."""
import json
import os
import signal

import pytest

from goleak import shards
from goleak.summary_report import render_summary_report
from goleak.ignore import build_ignore_rules
from goleak.normalize import SIMILARITIES, shard_key
from goleak.parse import ParseOptions, UnfinishedResult, parse_file
from goleak.report.view import ReportOptions, build_summary_view
from goleak.summary import SummarySettings, summarize
from goleak.cluster import cluster_snapshots
from tests.conftest import CORPUS, FIXTURES

FORMS = sorted(p for p in (FIXTURES / "forms").iterdir() if p.suffix in (".txt", ".gz"))
INPUTS = FORMS + sorted(p for p in (FIXTURES / "compare").iterdir() if p.suffix in (".txt", ".gz")) + \
    (sorted((CORPUS / "dumps").iterdir()) if CORPUS.is_dir() else [])


def unfinished(paths, similarity="default", jobs=1):
    return [parse_file(str(p), p.name, ParseOptions(keep_args=similarity == "exact", jobs=jobs, finish=False))
            for p in paths]


def report_text(results, settings, jobs, min_stacks=0, fmt="json"):
    report = render_summary_report(results, settings, ReportOptions(version="t"), fmt, jobs, min_stacks)
    text = b"".join(c.encode("utf-8") if isinstance(c, str) else c for c in report.chunks).decode("utf-8")
    return text, report.warnings


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_two_processes_write_the_one_process_summary(path, similarity):
    results = unfinished([path], similarity)
    settings = SummarySettings(similarity=similarity, ignore=build_ignore_rules((), True))
    one, one_warnings = report_text(results, settings, jobs=1)
    two, two_warnings = report_text(results, settings, jobs=2)
    assert two == one
    assert two_warnings == one_warnings


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_every_form_at_once_at_every_similarity(similarity):
    # debug=1 and debug=0 profiles print the runtime frames that debug=2 hides, so one
    # goroutine's stacks differ between forms while their cluster is one: the shares must
    # still agree, and the ignore rules, suspects and ignored counts add up the same.
    results = unfinished(FORMS, similarity)
    settings = SummarySettings(similarity=similarity, ignore=build_ignore_rules((), True))
    one, _ = report_text(results, settings, jobs=1)
    two, _ = report_text(results, settings, jobs=2)
    assert two == one
    data = json.loads(two)
    assert data["suspects"] and data["ignored_goroutines"] > 0
    assert sum(c["count"] for c in data["clusters"]) + data["ignored_goroutines"] == data["total"]


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_a_cluster_never_spans_two_shares(similarity):
    results = [r.finish() for r in unfinished(FORMS, similarity)]
    snapshots = [s for r in results for s in r.snapshots]
    by_cluster = {}
    for cluster in cluster_snapshots(snapshots, similarity):
        by_cluster[cluster.id] = {shard_key(cluster.stack, similarity)}
    # Every group's stack, not only the representative one: regroup and compare.
    from goleak.normalize import signatures, state_key
    keys = {}
    for s in snapshots:
        for g in s.groups:
            cluster = (signatures(g.stack, similarity)[1], state_key(g.state, similarity))
            keys.setdefault(cluster, set()).add(shard_key(g.stack, similarity))
    assert len(keys) == len(by_cluster)
    assert all(len(k) == 1 for k in keys.values())
    # The mixed forms really do put differing stacks in one cluster.
    assert any(len({g.stack for s in snapshots for g in s.groups
                    if (signatures(g.stack, similarity)[1], state_key(g.state, similarity)) == key}) > 1
               for key in keys)


@pytest.mark.parametrize("fmt", ["json", "text", "html"])
def test_parallel_parse_tallies_split_and_merge(fmt, monkeypatch):
    # A dump read by three parse processes: the children's tallies (imported) and the
    # parent's own are each split between the shards, and folded in the same.
    monkeypatch.setattr("goleak.parse.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("goleak.parse.parallel._WINDOW", 4096)
    plain = [p for p in INPUTS if p.suffix == ".txt" and p.read_bytes().startswith(b"goroutine ")]
    path = max(plain, key=lambda p: p.stat().st_size)
    results = unfinished([path], jobs=3)
    assert isinstance(results[0], UnfinishedResult)
    assert any(b.imported for b in results[0].builders)
    whole = parse_file(str(path), path.name)
    assert [s.groups for s in results[0].finish().snapshots] == [s.groups for s in whole.snapshots]
    settings = SummarySettings()
    assert report_text(results, settings, jobs=2, fmt=fmt) == report_text([whole], settings, jobs=1, fmt=fmt)


def test_finishing_leaves_the_tallies_as_they_were():
    path = max(FORMS, key=lambda p: p.stat().st_size if p.suffix == ".txt" else 0)
    result = unfinished([path])[0]
    first = result.finish()
    sharding = shards.Sharding("default")
    parts = [result.finish(sharding.keep(token)) for token in shards.TOKENS]
    again = result.finish()
    assert again == first
    for a, *shares in zip(first.snapshots, *[p.snapshots for p in parts]):
        assert all(share.total == a.total for share in shares)
        assert sorted([g for share in shares for g in share.groups], key=repr) == sorted(a.groups, key=repr)
        assert sum(1 for share in shares if share.groups) > 2


def parent_tokens(monkeypatch):
    """The tokens this process computed, in order (the child's calls happen in the child's
    memory)."""
    ran = []
    real = shards._TokenRunner.summary

    def run(self, token):
        ran.append(token)
        return real(self, token)
    monkeypatch.setattr(shards._TokenRunner, "summary", run)
    return ran


def slow_tokens(monkeypatch, seconds):
    """Each token takes at least `seconds` in either process, so that both get some."""
    import time
    real = shards._TokenRunner.summary

    def run(self, token):
        time.sleep(seconds)
        return real(self, token)
    monkeypatch.setattr(shards._TokenRunner, "summary", run)


ALL_TOKENS = list(range(len(shards.TOKENS)))


def test_the_child_computes_its_tokens(monkeypatch):
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    results = unfinished(INPUTS[:6])
    assert report_text(results, SummarySettings(), jobs=2) == report_text(results, SummarySettings(), jobs=1)
    # jobs=1 ran no token; with two processes this one took some, and left the rest to the
    # child: each token once, in queue order.
    assert ran and ran == sorted(ran) and len(ran) < len(shards.TOKENS)


def test_without_a_memory_file_the_texts_come_through_the_pipe(monkeypatch):
    results = unfinished(INPUTS[:6])
    one = report_text(results, SummarySettings(), jobs=1)
    monkeypatch.setattr(shards._Store, "create", classmethod(lambda cls: None))
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    assert report_text(results, SummarySettings(), jobs=2) == one
    assert len(ran) < len(shards.TOKENS)  # the child's tokens did arrive


def test_a_memory_file_that_cannot_be_mapped_leaves_its_tokens_to_the_parent(monkeypatch):
    results = unfinished(INPUTS[:6])
    one = report_text(results, SummarySettings(), jobs=1)

    def fail(self):
        raise OSError(12, "Cannot allocate memory")
    monkeypatch.setattr(shards._Store, "mapped", fail)
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    assert report_text(results, SummarySettings(), jobs=2) == one
    assert sorted(ran) == ALL_TOKENS


def test_the_memory_file_takes_many_chunks_written_in_part(monkeypatch):
    # A token's cluster texts go to the store unjoined: thousands of chunks, more than one
    # writev takes (IOV_MAX), and a writev may write less than it was given.
    store = shards._Store.create()
    if store is None:
        pytest.skip("no memfd here")
    real = os.writev
    calls = []

    def short_writev(fd, buffers):
        calls.append(len(buffers))
        return real(fd, [bytes(b"".join(buffers))[:len(calls) * 7 % 5000 + 1]])
    monkeypatch.setattr(os, "writev", short_writev)
    chunks = [("cluster %d;" % i).encode() * (i % 4) for i in range(3000)]  # some empty
    try:
        assert store.put([b"head"]) == 0
        assert store.put(chunks) == 4
        assert bytes(store.mapped()) == b"head" + b"".join(chunks)
    finally:
        store.close()
    assert max(calls) == shards._IOV_MAX and len(calls) > 3


def test_tokens_cover_every_fine_shard_once():
    assert sorted(f for token in shards.TOKENS for f in token) == list(range(shards.FINE_SHARDS))
    # Big tokens first: the last ones a process can still hold are small.
    sizes = [len(token) for token in shards.TOKENS]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_a_failed_child_leaves_its_tokens_to_the_parent(monkeypatch):
    results = unfinished(INPUTS[:6])
    settings = SummarySettings()
    one, _ = report_text(results, settings, jobs=1)

    def fail(records, out):
        raise RuntimeError("the child fails before sending anything")
    monkeypatch.setattr(shards, "_send", fail)
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    two, _ = report_text(results, settings, jobs=2)
    assert two == one
    assert sorted(ran) == ALL_TOKENS and ran != ALL_TOKENS  # the child's first token done last


def test_a_child_cut_off_midway_leaves_its_tokens_to_the_parent(monkeypatch):
    # The child sent its first token's keys and most texts, then died (killed, out of
    # memory): nothing of that token is used, and nothing was written before everything had
    # arrived.
    results = unfinished(INPUTS[:6])
    one, _ = report_text(results, SummarySettings(), jobs=1)
    real_send = shards._send

    def send_most(records, out):
        real_send(records, _Truncating(out))  # all but the last record
        out.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    monkeypatch.setattr(shards, "_send", send_most)
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    assert report_text(results, SummarySettings(), jobs=2)[0] == one
    assert sorted(ran) == ALL_TOKENS


def test_a_child_that_dies_between_tokens_keeps_what_it_sent(monkeypatch):
    # The child sends its first token whole (texts in the memory file, head through the
    # pipe), then is killed: that token is used, the rest is done here.
    results = unfinished(INPUTS[:6])
    one, _ = report_text(results, SummarySettings(), jobs=1)
    real_send = shards._send

    def send_once(records, out):
        real_send(records, out)
        os.kill(os.getpid(), signal.SIGKILL)
    monkeypatch.setattr(shards, "_send", send_once)
    slow_tokens(monkeypatch, 0.2)
    ran = parent_tokens(monkeypatch)
    assert report_text(results, SummarySettings(), jobs=2)[0] == one
    assert len(ran) == len(shards.TOKENS) - 1


def test_shards_that_disagree_about_a_cluster_leave_it_all_to_one_process(monkeypatch):
    # A shard key that splits clusters (as a hostile protobuf's function names could): the
    # overlap is seen and one process writes the report.
    results = unfinished(FORMS)
    settings = SummarySettings()
    one, _ = report_text(results, settings, jobs=1)
    # By object: the same stack read from two files is two objects, one cluster.
    monkeypatch.setattr(shards, "shard_key", lambda stack, similarity: hash(str(id(stack))))
    assert shards.render_json_in_shards(results, settings, ReportOptions(version="t")) is None
    assert report_text(results, settings, jobs=2)[0] == one


class _Truncating:
    """A writer that drops the last write (a token's last text)."""

    def __init__(self, out):
        self.out = out
        self.pending = None

    def write(self, data):
        if self.pending is not None:
            self.out.write(self.pending)
        self.pending = data
        return len(data)

    def flush(self):
        self.out.flush()


def test_few_stacks_or_one_job_stay_in_one_process(monkeypatch):
    started = []
    monkeypatch.setattr(shards.forked.Child, "start", classmethod(lambda cls, work: started.append(1)))
    results = unfinished(FORMS[:3])
    report_text(results, SummarySettings(), jobs=2, min_stacks=10 ** 6)
    report_text(results, SummarySettings(), jobs=2, min_stacks=10 ** 6, fmt="text")
    report_text(results, SummarySettings(), jobs=1)
    report_text(results, SummarySettings(), jobs=1, fmt="html")
    assert started == []
    report_text(results, SummarySettings(), jobs=2)
    report_text(results, SummarySettings(), jobs=2, fmt="markdown")
    assert started == [1, 1]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_other_formats_from_a_summary_in_shards(fmt, similarity, monkeypatch):
    # Text, Markdown and HTML render every cluster in one process: the child sends its
    # tokens' clusters (their stacks by address), and the summary merged here renders the
    # one-process report byte for byte.
    results = unfinished(FORMS, similarity)
    settings = SummarySettings(similarity=similarity, ignore=build_ignore_rules((), True))
    one = report_text(results, settings, jobs=1, fmt=fmt)
    slow_tokens(monkeypatch, 0.05)
    ran = parent_tokens(monkeypatch)
    assert report_text(results, settings, jobs=2, fmt=fmt) == one
    assert len(ran) < len(shards.TOKENS)


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_a_summary_in_shards_is_the_one_process_summary(path, monkeypatch):
    results = unfinished([path])
    settings = SummarySettings(ignore=build_ignore_rules((), True))
    one = summarize([r.finish() for r in results], settings)
    slow_tokens(monkeypatch, 0.02)
    ran = parent_tokens(monkeypatch)
    two = shards.summarize_in_shards(results, settings)
    assert len(ran) < len(shards.TOKENS)  # the child did some
    assert two.clusters == one.clusters and two.flags == one.flags and two.suspects == one.suspects
    # A suspect names one of the summary's clusters, not a copy of it.
    by_id = {c.id: c for c in two.clusters}
    assert all(s.cluster is by_id[s.cluster.id] for s in two.suspects)
    fields = ("total", "declared_total", "ignored", "warnings", "sources", "similarity", "race_reports")
    assert [getattr(two, f) for f in fields] == [getattr(one, f) for f in fields]
    # Its snapshots have no groups (a shard has only its own); the view reads none.
    assert all(not s.groups for s in two.snapshots)
    options = ReportOptions(version="t")
    assert build_summary_view(two, options) == build_summary_view(one, options)
    # The child's clusters hold this process's stacks, not copies.
    mine = {id(g.stack) for r in results for b in r.builders for g in b.finish("x", 0).groups}
    assert all(id(c.stack) in mine for c in two.clusters)


@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_summaries_of_finished_results_split_too(fmt):
    # What the gzip-text path returns (finished, with its truncation warning).
    results = [parse_file(str(p), p.name) for p in FORMS]
    settings = SummarySettings()
    assert report_text(results, settings, jobs=2, fmt=fmt) == report_text(results, settings, jobs=1, fmt=fmt)
    assert summarize(results, settings).total == json.loads(report_text(results, settings, jobs=2)[0])["total"]


@pytest.mark.slow
def test_cli_summary_of_many_stacks_in_two_processes(tmp_path, go_cache):
    """The console script on a real 26 MB dump of 4,000 distinct stacks (read by two parse
    processes, summarized in two shares): the same JSON as --jobs 1, on stdout and in -o."""
    import subprocess
    from tests.conftest import ROOT, go_build, run_cli
    gen = go_build(ROOT / "bench" / "gen", go_cache, "benchgen")
    dump = tmp_path / "many.txt"
    subprocess.run([str(gen), "-goroutines", "16000", "-stacks", "4000", "-debug", "2", "-o", str(dump), "-q"],
                   check=True, timeout=600)
    assert dump.stat().st_size > 24 << 20  # over goleak.parse.PARALLEL_MIN_BYTES
    one = run_cli(["summary", str(dump), "--format", "json", "--jobs", "1"]).stdout
    two = run_cli(["summary", str(dump), "--format", "json", "--jobs", "2"]).stdout
    run_cli(["summary", str(dump), "--format", "json", "--jobs", "2", "-o", str(tmp_path / "two.json")])
    assert two == one
    assert (tmp_path / "two.json").read_text() == one
    data = json.loads(one)
    assert data["total"] == 16001 and len(data["clusters"]) >= 4000


def test_a_cluster_split_by_a_hostile_name_is_caught_even_when_half_of_it_is_hidden():
    # A protobuf can name a function "os/signal.loop a.go:1\nmain.y": its one frame then
    # prints the same cluster key as the two frames os/signal.loop and main.y, but its
    # lines differ, so the two stacks fall in different shards. The ignore rules hide the
    # half whose representative is os/signal.loop: the overlap check must see hidden
    # clusters too, and one process then writes the report.
    from goleak.model import Frame, ParseResult, Snapshot, Stack, StackGroup
    def token_of(stack):
        fine = shard_key(stack, "default") % shards.FINE_SHARDS
        return next(i for i, token in enumerate(shards.TOKENS) if fine in token)

    # The first line of a.go that puts the two halves in different tokens (the keys hash
    # tuples of ints: the same in every run).
    hostile, plain = next(
        (h, p) for h, p in ((Stack((Frame("os/signal.loop a.go:%d\nmain.y" % n, "b.go", 3),)),
                             Stack((Frame("os/signal.loop", "a.go", n), Frame("main.y", "b.go", 3))))
                            for n in range(1, 1000))
        if token_of(h) != token_of(p))
    groups = (StackGroup(plain, "chan receive", 5), StackGroup(hostile, "chan receive", 3))
    results = [ParseResult("hostile.pb.gz", (Snapshot("hostile.pb.gz", "debug=0", groups, 8),))]
    settings = SummarySettings(ignore=build_ignore_rules((), True))
    one, _ = report_text(results, settings, jobs=1)
    assert json.loads(one)["ignored_goroutines"] == 8
    assert shards.render_json_in_shards(results, settings, ReportOptions(version="t")) is None
    assert report_text(results, settings, jobs=2)[0] == one


def test_json_on_stdout_is_utf8_whatever_the_locale(tmp_path):
    # One process and two write the same bytes, and JSON is UTF-8 (RFC 8259) even where
    # stdout's encoding is not.
    import os
    import subprocess
    from tests.conftest import goleak_exe
    dump = tmp_path / "accents.txt"
    dump.write_text("goroutine 7 [chan receive]:\nmain.caf\u00e9(0x1)\n\t/src/app/\u00e9t\u00e9.go:4 +0x1d\n"
                    "created by main.main in goroutine 1\n\t/src/app/main.go:9 +0x2a\n", encoding="utf-8")
    env = dict(os.environ, PYTHONIOENCODING="latin-1")
    out = subprocess.run([goleak_exe(), "summary", str(dump), "--format", "json"], env=env,
                         capture_output=True, check=True, timeout=60).stdout
    assert "main.caf\u00e9".encode("utf-8") in out
    assert json.loads(out.decode("utf-8"))["total"] == 1
