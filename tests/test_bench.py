"""`make bench` shows its table, not the relay's logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What the bench measures, in small: the relay's JSON log line, chalice local (a child process,
# as in the burst) writing to the inherited stdout and stderr, then the table.
_SCRIPT = """
import subprocess, sys
from pathlib import Path
from bench.run import output_to
from chalicelib.observability import logger

with output_to(Path(sys.argv[1])):
    logger.info("alert decided", outcome="placed")
    subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"])
    print("bench print")
print("measure | relay | baseline")
"""


def test_bench_output_holds_the_table_and_the_log_file_the_rest(tmp_path):
    log = tmp_path / "bench.log"
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(log)], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("measure | relay | baseline\n", "")
    written = log.read_text()
    assert all(text in written for text in ('"alert decided"', "child out", "child err", "bench print"))


def _sample_results() -> dict:
    """results.json's shape, as bench.run writes it, with made-up figures."""
    timing = {"p50": 1.0, "p99": 2.0, "n": 10}
    return {
        "warm": {
            "relay_ms": timing, "alert_to_broker_ms": timing, "baseline_exactly_once_to_broker_ms": timing,
            "baseline_exactly_once_answer_ms": timing, "baseline_one_ssm_read_ms": timing,
            "to_broker_ratio_p50": 1.11, "to_broker_ratio_p99": 1.22, "answer_ratio_p50": 1.0, "answer_ratio_p99": 1.0,
            "to_broker_ratio_vs_one_ssm_read_p50": 2.0, "to_broker_ratio_vs_one_ssm_read_p99": 2.0,
            "aws_calls_before_broker": 1.0, "aws_calls_after_broker": 1.0,
            "aws_calls_before_broker_by_operation": {"dynamodb.TransactWriteItems": 1.0},
            "aws_calls_after_broker_by_operation": {"dynamodb.UpdateItem": 1.0},
            "aws_calls": {"dynamodb.TransactWriteItems": {"per_alert": 1.0, "p50_ms": 3.0},
                          "dynamodb.UpdateItem": {"per_alert": 1.0, "p50_ms": 3.0}},
            "baseline_put_item_ms": timing, "write_before_broker_ratio_p50": 3.0,
            "to_broker_ratio_without_the_write_p50": 1.5,
            "own_processing_ms": timing, "orders_in_book": 20,
        },
        "cold": {"import_app_ms": timing, "import_baseline_ms": timing, "import_ratio_p50": 1.4,
                 "first_alert_ms": 480.0, "second_alert_ms": 40.0},
        "package": {"zip_mb": 4.5, "unzipped_mb": 13.0},
        "symbols": {"generated_100k": {"cold_load_ms": 500.0, "warm_lookup_us": timing}},
        "cold_index": {"shared_copy_ms": timing, "download_ms": timing, "ratio_p50": 0.5, "shared_item_kb": 47.0,
                       "master_kb": 752.0},
        "fno": {"master_rows": 100945, "master_mb": 14.0, "contracts": 80000, "shared_kb": 307.5, "shared_chunks": 1, "compact_bytes": 300000,
                "cold_index_ready_ms": 20.0, "cold_index_shared_ms": timing, "baseline_download_parse_ms": timing,
                "cold_index_ratio_p50": 0.03, "lookup_p99_us": 30.0, "lookup_us": {**timing, "max": 3.0},
                "index_rss_mb": 6.0, "baseline_process_rss_mb": 32.0, "process_rss_mb": 38.0,
                "process_peak_rss_mb": 44.0, "index_traced_mb": 2.0, "fno_import_ms": 20.0,
                "fresh_process_build_ms": 20.0, "relative_option_broker_reads": 1,
                "relative_option_reads": ["/market/option-chain"], "targets": {}},
        "burst": {"alerts": 100, "placed": 100, "answered_placed": 6, "queued": 94, "other": {}, "max_answer_ms": 900.0,
                  "answer_ms": timing, "seconds_to_drain": 12.5, "seconds_to_last_write": 12.5, "busiest_second": 8,
                  "lost": 0, "duplicated": 0},
    }


def test_the_table_and_results_carry_every_stable_name_of_issue_15():
    from bench.run import STABLE_NAMES, figure, table

    asked = {"warm.to_broker_ratio_p50", "warm.to_broker_ratio_p99", "warm.aws_calls_before_broker",
             "warm.aws_calls_after_broker", "cold.first_alert_ms", "cold.second_alert_ms", "cold.import_ratio_p50",
             "burst.max_answer_ms", "burst.placed", "burst.busiest_second", "burst.answered_placed", "burst.queued",
             "burst.seconds_to_drain", "burst.lost", "burst.duplicated"}
    assert asked <= set(STABLE_NAMES)
    results = _sample_results()
    printed = table(results)
    for name in STABLE_NAMES:
        figure(results, name)  # results.json carries it
        assert name in printed, name


def test_the_table_and_results_carry_the_fno_figures_of_issue_16():
    from bench.run import STABLE_NAMES, figure, table

    asked = {"fno.cold_index_ready_ms", "fno.lookup_p99_us", "fno.index_rss_mb", "fno.relative_option_broker_reads"}
    assert asked <= set(STABLE_NAMES)
    results = _sample_results()
    printed = table(results)
    for name in asked:
        assert figure(results, name) is not None and name in printed, name


def test_the_fno_bench_measures_what_it_names_on_a_small_master(capsys):
    """bench/fno.py end to end on the simulator's default (small) master: the shared copy is what
    a cold instance reads, and a relative option costs one broker read."""
    from bench.fno import measure

    figures = measure(real_size=False, lookups=200, cold_runs=2, download_runs=1, stage="test")
    capsys.readouterr()  # the relay's log lines
    assert figures["relative_option_broker_reads"] == 1 and figures["relative_option_reads"] == ["/market/option-chain"]
    assert 0 < figures["cold_index_ready_ms"] and figures["baseline_download_parse_ms"]["n"] == 1
    assert figures["lookup_us"]["n"] == 200 and 0 < figures["lookup_us"]["p50"] <= figures["lookup_p99_us"]
    assert 0 < figures["baseline_process_rss_mb"] <= figures["process_rss_mb"] <= figures["process_peak_rss_mb"]
    assert figures["contracts"] > 0 and figures["shared_kb"] > 0 and figures["fno_import_ms"] > 0
