"""The demo keeps Airflow alive (a component that dies is restarted, said loudly in the terminal) and sends
traffic to every model once it is served.
(`make demo` starting, its ports and its paused/unpaused models: tests/docs/test_documented_commands.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

pytestmark = pytest.mark.xdist_group("demo")  # shares the session's running demo (--dist loadgroup)


def child_pid(parent: int, command: str) -> int:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return next(int(line.split()[0]) for line in out.splitlines() if command in line)


def test_a_killed_scheduler_is_restarted_and_reported_loudly(running_demo) -> None:
    demo = running_demo
    deaths = demo.stderr().count("scheduler exited with code")
    killed = child_pid(demo.proc.pid, "airflow scheduler")
    os.kill(killed, signal.SIGKILL)
    demo.wait_for(lambda: demo.stderr().count("scheduler exited with code") > deaths, 60, "the loud message", poll=1)
    assert "!!! scheduler exited with code -9; restarting it" in demo.stderr()
    demo.wait_for(lambda: "scheduler restarted (restart #" in demo.stderr(), 60, "the restart", poll=1)
    assert child_pid(demo.proc.pid, "airflow scheduler") != killed
    demo.wait_for(lambda: demo.health()["scheduler"]["status"] == "healthy", 180, "a healthy scheduler again")


def test_demo_traffic_starts_for_a_model_once_it_is_served(running_demo) -> None:
    """The traffic process re-discovers served endpoints: the example's first champion gets traffic once deployed."""
    demo = running_demo
    traffic_log = demo.root / ".demo" / "traffic.log"
    demo.wait_for(lambda: "demand_forecast: endpoint demand-forecast is served" in traffic_log.read_text(), 900,
                  "traffic for demand_forecast's first champion")
    demo.wait_for(lambda: re.search(r"demand_forecast: \[.*\] sent=\d+ 2xx=[1-9]", traffic_log.read_text()), 60,
                  "answered requests")
