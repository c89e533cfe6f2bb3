"""The page's failure title from real diagnoses: an outage ("unreachable") versus a refusal ("… failed")."""

from __future__ import annotations

from harness.servers import free_port
from redissync.diagnose import diagnose
from redissync.ui.outage import current_failure


def test_a_cluster_whose_seeds_all_refuse_is_unreachable(redis_cluster) -> None:
    report = diagnose(redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}"))
    failure = current_failure(report.to_dict(), [])
    assert failure is not None
    assert failure.unreachable, failure
    assert failure.title(failure.since).startswith("Redis unreachable since ")


def test_a_cluster_refusing_our_password_is_a_failed_step_not_an_outage(redis_cluster) -> None:
    report = diagnose(redis_cluster.settings_env(REDIS_PASSWORD="not-the-password"))
    failure = current_failure(report.to_dict(), [])
    assert failure is not None
    assert not failure.unreachable, failure
    assert "failed" in failure.title(failure.since)
