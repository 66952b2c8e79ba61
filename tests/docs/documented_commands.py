"""The shell commands README.md and docs/tutorial.md show, in order, as a user would type them."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TUTORIAL, README = REPO / "docs" / "tutorial.md", REPO / "README.md"
DOCS = (TUTORIAL, README)  # the tutorial first: it creates what the README's commands use
SHELL_FENCES = {"sh", "bash", "shell", "console"}

DEMO = "demo"      # `make demo`: the running demo (tests/integration) or `mlprovider demo --exit-when-ready`
SUITE = "suite"    # `make test`: the whole suite, not run from inside itself
BENCH = "bench"    # minutes each: checked to exist and compile
ENV = "env"        # `export ...`: applies to the commands after it
NEEDS_DEMO = "needs-demo"  # talks to the demo's Airflow: run against the running demo
RUN = "run"        # runs anywhere: run for real


def _blocks(markdown: str) -> list[str]:
    """Indented (4 spaces, after a blank line, outside fences) and sh/bash fenced code blocks."""
    blocks, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^```(\w*)", line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) in SHELL_FENCES:
                blocks.append("\n".join(lines[i + 1:end]))
            i = end + 1
            continue
        if line.startswith("    ") and line.strip() and (i == 0 or not lines[i - 1].strip()) and not re.match(r"^\s*([-*]|\d+\.)\s", lines[i - 2] if i >= 2 else ""):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            blocks.append("\n".join(l[4:] for l in lines[i:end]).strip("\n"))
            i = end
            continue
        i += 1
    return blocks


def _commands(block: str) -> list[str]:
    """One entry per command; a heredoc stays with its command; comment-only lines go."""
    commands, lines, i = [], block.splitlines(), 0
    while i < len(lines):
        line = lines[i].rstrip()
        heredoc = re.search(r"<<-?'?(\w+)'?", line)
        if heredoc:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == heredoc.group(1))
            commands.append("\n".join(lines[i:end + 1]))
            i = end + 1
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
        i += 1
    return commands


def kind(command: str) -> str:
    if re.match(r"make demo\b", command):
        return DEMO
    if re.match(r"make test\b", command):
        return SUITE
    if "bench/" in command:
        return BENCH
    if command.startswith("export "):
        return ENV
    if re.search(r"(^|\s|/)airflow\s", command):
        return NEEDS_DEMO
    return RUN


def documented_commands(docs: tuple[Path, ...] = DOCS) -> list[tuple[str, str]]:
    """[(kind, command)] in the docs' order, each command once."""
    seen, result = set(), []
    for doc in docs:
        for block in _blocks(doc.read_text()):
            for command in _commands(block):
                same = command.removeprefix(".venv/bin/")  # the README's spelling of the tutorial's command (PATH set)
                if same not in seen:
                    seen.add(same)
                    result.append((kind(command), command))
    return result
