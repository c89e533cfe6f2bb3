"""The text format: names and labels refused when they break Prometheus's conventions, escaping, and the
merge redissync.lua mirrors (one HELP/TYPE per family, its samples together)."""

from __future__ import annotations

import pytest

from harness.promtool import check_metrics, samples
from redissync.figures.exposition import Family, format_value, merge, render


def test_render_escapes_label_values_and_passes_promtool() -> None:
    family = Family("redissync_diagnosis_step_failed", "gauge", "1 for the failed step.\nSecond line \\ here.")
    family.add(True, step='a "quoted"\\step\n')
    text = check_metrics(render([family]))
    assert 'step="a \\"quoted\\"\\\\step\\n"' in text
    assert "# HELP redissync_diagnosis_step_failed 1 for the failed step.\\nSecond line \\\\ here." in text


@pytest.mark.parametrize(("name", "kind"), [("bans_restored_total", "counter"), ("redissync_restored", "counter"),
                                            ("redissync_up_total", "gauge"), ("redissync_Up", "gauge"), ("redissync_x", "summary")])
def test_names_and_types_follow_the_conventions(name: str, kind: str) -> None:
    with pytest.raises(ValueError):
        Family(name, kind, "help")


@pytest.mark.parametrize("label", ["job", "instance", "Bad", "with-dash"])
def test_target_labels_and_bad_names_are_refused(label: str) -> None:
    with pytest.raises(ValueError):
        Family("redissync_x", "gauge", "help").add(1, **{label: "v"})


def test_values_and_empty_families() -> None:
    values = (3.0, 0.25, float("inf"), float("nan"), 2.0**60, 0.01802027500002623, 1796588899.891321, 1.4999999999999999e-05)
    assert [format_value(v) for v in values] == ["3", "0.25", "+Inf", "NaN", "1.15292150460685e+18", "0.0180202750000262",
                                                "1796588899.89132", "1.5e-05"]
    assert render([Family("redissync_x", "gauge", "nothing measured")]) == ""  # absent means unknown


def test_merge_keeps_each_family_whole() -> None:
    def section(job: str, runs: int) -> str:
        return render([Family("redissync_job_runs_total", "counter", "Runs.").add(runs, job_name=job),
                       Family(f"redissync_{job}_only", "gauge", "Own.").add(1)])

    merged = check_metrics(merge({"first": section("first", 1), "second": section("second", 2)}))
    assert merged.count("# TYPE redissync_job_runs_total counter") == 1
    lines = merged.splitlines()
    runs = [i for i, line in enumerate(lines) if line.startswith("redissync_job_runs_total")]
    assert runs == [runs[0], runs[0] + 1]  # together, under the one HELP/TYPE
    assert samples(merged)[("redissync_job_runs_total", frozenset({("job_name", "second")}))] == 2
    assert merge([]) == ""
