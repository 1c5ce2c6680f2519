"""The benchmark's output parsers read wrk, hey and py-spy output correctly (no timing here)."""

from __future__ import annotations

import math

import pytest

from tools.bench import loadgen, profile, report

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:1/json
  1 threads and 32 connections
BENCH_JSON {"requests":8000,"duration_us":8000000,"connect":0,"read":1,"write":0,"status":2,"timeout":3,"p50_us":1500,"p90_us":2500,"p99_us":9000}
"""

HEY_CSV = """\
response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0030,0.0001,0.0000,0.0000,0.0029,0.0000,200,0.0400
0.0010,0.0000,0.0000,0.0000,0.0010,0.0000,200,0.0800
0.0020,0.0000,0.0000,0.0000,0.0019,0.0000,502,0.1200
"""


def test_parse_wrk_reads_the_done_hook_line() -> None:
    result = loadgen.parse_wrk(WRK_OUTPUT, connections=32)
    assert result.requests == 8000
    assert result.rps == pytest.approx(1000.0)
    assert result.errors == 6
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (1.5, 2.5, 9.0)


def test_parse_wrk_without_the_marker_raises() -> None:
    with pytest.raises(loadgen.LoadError):
        loadgen.parse_wrk("Running 8s test\n", connections=1)


def test_wrk_script_sets_method_headers_and_the_done_hook() -> None:
    script = loadgen.wrk_script("POST", {"X-TAP-Credential": "bench"})
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["X-TAP-Credential"] = "bench"' in script
    assert "BENCH_JSON" in script and "latency:percentile(99)" in script


def test_parse_hey_csv_skips_the_header() -> None:
    rows = loadgen.parse_hey_csv(HEY_CSV)
    assert [r.status for r in rows] == [200, 200, 502]
    assert rows[0].latency_secs == pytest.approx(0.003)
    assert rows[2].offset_secs == pytest.approx(0.12)


def test_summarize_counts_bad_statuses_and_missing_answers() -> None:
    rows = loadgen.parse_hey_csv(HEY_CSV)
    result = loadgen.summarize(rows, sent=5, offered_rps=25, achieved_rps=25, ok_status=200)
    # One 502 plus two requests that never got an answer.
    assert result.errors == 3
    assert result.p50_ms == pytest.approx(2.0)
    assert result.max_ms == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        # nearest rank
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 99, 4.0),
        ([5.0], 1, 5.0),
    ],
)
def test_percentile(values: list[float], pct: float, expected: float) -> None:
    assert loadgen.percentile(values, pct) == expected


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(loadgen.percentile([], 50))


def test_top_frames_drops_process_frames_and_line_numbers() -> None:
    raw = (
        'process 1:"python tap-proxy";process 2:"python -c a; b";'
        "run (app/proxy/pipeline.py:10);for_secrets (app/proxy/sanitize.py:20) 3\n"
        'process 1:"python tap-proxy";run (app/proxy/pipeline.py:11) 1\n'
        "garbage line without a count\n"
    )
    ranked = profile.top_frames(raw, 5)
    assert ranked.samples == 4
    assert ranked.self_pct[0] == ("for_secrets (app/proxy/sanitize.py)", 75.0)
    assert ("run (app/proxy/pipeline.py)", 100.0) in ranked.inclusive
    assert not any(name.startswith("process") for name, _ in ranked.inclusive)


def test_markdown_keeps_the_notes_section() -> None:
    previous = f"# old\n{report.NOTES_START}\nkeep me\n{report.NOTES_END}\n"
    page = report.markdown({"systems": {}}, previous)
    assert "keep me" in page
    assert "not measured" in page  # every target is listed even with no numbers
