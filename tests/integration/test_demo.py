"""The demo keeps Airflow alive (a component that dies is restarted, said loudly in the terminal) and sends
traffic to every model once it is served.
(`make demo` starting, its ports and its paused/unpaused models: tests/docs/test_documented_commands.py.)"""

from __future__ import annotations

import os
import re
import signal

import psutil
import pytest

pytestmark = pytest.mark.xdist_group("demo")  # shares the session's running demo (--dist loadgroup)


def child_pid(parent: int, command: str) -> int | None:
    """The live child running `command` (None while it is dead or restarting). Read from /proc through psutil:
    `ps` cuts its lines at $COLUMNS (80 in CI), which cut the command before "airflow scheduler"."""
    for child in psutil.Process(parent).children():
        try:
            if command in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_killed_scheduler_is_restarted_and_reported_loudly(running_demo) -> None:
    demo = running_demo
    # The scheduler may be between a death and its restart (another test's load): kill a live one.
    killed = demo.wait_for(lambda: child_pid(demo.proc.pid, "airflow scheduler"), 120, "a live scheduler", poll=1)
    deaths = demo.stderr().count("scheduler exited with code")
    os.kill(killed, signal.SIGKILL)
    demo.wait_for(lambda: demo.stderr().count("scheduler exited with code") > deaths, 60, "the loud message", poll=1)
    assert "!!! scheduler exited with code -9; restarting it" in demo.stderr()
    demo.wait_for(lambda: "scheduler restarted (restart #" in demo.stderr(), 60, "the restart", poll=1)
    assert demo.wait_for(lambda: child_pid(demo.proc.pid, "airflow scheduler"), 60, "the new scheduler", poll=1) != killed
    demo.wait_for(lambda: demo.health()["scheduler"]["status"] == "healthy", 180, "a healthy scheduler again")


def test_demo_traffic_starts_for_a_model_once_it_is_served(running_demo) -> None:
    """The traffic process re-discovers served endpoints: the example's first champion gets traffic once deployed."""
    demo = running_demo
    traffic_log = demo.root / ".demo" / "traffic.log"
    demo.wait_for(lambda: "demand_forecast: endpoint demand-forecast is served" in traffic_log.read_text(), 900,
                  "traffic for demand_forecast's first champion")
    demo.wait_for(lambda: re.search(r"demand_forecast: \[.*\] sent=\d+ 2xx=[1-9]", traffic_log.read_text()), 60,
                  "answered requests")
