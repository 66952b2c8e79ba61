"""`mlprovider --help` speaks to users: what the tool does, how to start, and a line for every command."""

import pytest

from airflow_mlprovider.cli import SUBCOMMANDS, main


def test_top_level_help_describes_the_tool_and_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "Each subcommand lives" not in out and "add_arguments" not in out  # no developer docstring
    assert "make demo" in out and "docs/tutorial.md" in out
    for name, (_, help_text) in SUBCOMMANDS.items():
        assert f"    {name}" in out and help_text[:40] in " ".join(out.split())


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_command_has_a_description_and_options(capsys, name: str) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert f"usage: mlprovider {name}" in out
    assert SUBCOMMANDS[name][1][1:30] in " ".join(out.split())
