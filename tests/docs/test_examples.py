"""Every Python and shell block in docs/ and in README.md runs as written, against the lab, from a checkout.

README.md is a page of its own here (``README.md``), though mkdocs builds only docs/: its blocks,
paths and links are checked like the site's, and its links must reach pages that exist.

Each page runs in a sandbox of its own that looks like the repository root (a symlink per
top-level entry, so ``.venv/bin/nornflow``, ``examples/`` and ``deployments/`` are where the
pages say, while ``.nornflow/``, ``backups/`` and ``secrets/`` are the sandbox's), with ``HOME``
there too (the age key, Prefect's profile) and ``PREFECT_API_URL`` at the suite's Prefect server.
A page's blocks run in order, each in a process of its own (``bash -e`` or ``python FILE``), so a
block sees what the blocks above it left (a lab from ``nornflow lab up``), as a reader would.

A block is annotated by an HTML comment on the line above it (invisible on the site):

- ``<!-- example: skip "reason" -->``: not run; the reason is required (an outside server, a
  long-running process).
- ``<!-- example: expect "text" -->``: the block's output must contain ``text``.
- ``<!-- example: pytest -->``: a Python block that is a test module, run with pytest.

Every block must also exit 0 and print no traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RUNNABLE = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)$")
NOTE = re.compile(r"^\s*<!--\s*example:(?P<body>.*?)-->\s*$")
NOT_LINKED = {".git", "build", "backups", "test-output", ".nornflow", ".pytest_cache", ".mypy_cache",
              ".ruff_cache", "secrets", "outcome.json"}
BLOCK_TIMEOUT = 180
PARALLEL_PAGES = 3


@dataclass
class Block:
    page: str  # "lab.md" for docs/lab.md, "README.md" for the front page
    source: str  # the file as a reader finds it from the repository root: "docs/lab.md", "README.md"
    line: int
    kind: str  # "python" or "shell"
    code: str
    skip: str | None = None
    expect: tuple[str, ...] = ()
    pytest: bool = False

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def parse_note(body: str, where: str) -> dict[str, object]:
    words = shlex.split(body)
    note: dict[str, object] = {"expect": []}
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("skip", "expect"):
            if i + 1 >= len(words) or not words[i + 1].strip():
                raise ValueError(f"{where}: `example: {word}` needs a quoted text after it")
            if word == "skip":
                note["skip"] = words[i + 1]
            else:
                note["expect"].append(words[i + 1])  # type: ignore[attr-defined]
            i += 2
        elif word == "pytest":
            note["pytest"] = True
            i += 1
        else:
            raise ValueError(f"{where}: unknown example annotation {word!r} (skip, expect, pytest)")
    return note


def page_name(path: Path, docs: Path = DOCS) -> tuple[str, str]:
    """(page, source) of a file: a docs page by its path under docs/, any other file by its name."""
    if path.is_relative_to(docs):
        page = str(path.relative_to(docs))
        return page, f"docs/{page}"
    return path.name, path.name


def blocks_of(path: Path, docs: Path = DOCS) -> list[Block]:
    """The runnable fenced blocks of one page, with their annotations."""
    page, source = page_name(path, docs)
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, fence = opened["indent"], opened["fence"]
        lang = (opened["info"].split() or [""])[0].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence)}[ \t]*$", lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line)
            i += 1
        i += 1
        if lang not in RUNNABLE:
            continue
        where = f"{source}:{start + 1}"
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        note_match = NOTE.match(previous)
        note = parse_note(note_match["body"], where) if note_match else {"expect": []}
        found.append(Block(
            page=page, source=source, line=start + 1, kind=RUNNABLE[lang], code="\n".join(body) + "\n",
            skip=note.get("skip"),  # type: ignore[arg-type]
            expect=tuple(note["expect"]),  # type: ignore[arg-type]
            pytest=bool(note.get("pytest")),
        ))
    return found


def pages() -> list[Path]:
    """Every page whose examples run: the site's, and the README (the front page on the forge)."""
    return [*sorted(p for p in DOCS.rglob("*.md")), README]


ALL_BLOCKS = [block for page in pages() for block in blocks_of(page)]
PAGES_WITH_EXAMPLES = sorted({b.page for b in ALL_BLOCKS if b.skip is None})


def test_the_docs_carry_examples_and_skip_few() -> None:
    run = [b for b in ALL_BLOCKS if b.skip is None]
    skipped = [b for b in ALL_BLOCKS if b.skip is not None]
    assert len(run) >= 20, f"only {len(run)} runnable examples in docs/"
    assert len(skipped) <= len(run) // 3, "most examples must run: " + ", ".join(b.where for b in skipped)
    for block in skipped:
        assert block.skip and len(block.skip) > 10, f"{block.where}: a skip needs its reason"
    assert "getting-started.md" in PAGES_WITH_EXAMPLES
    assert "README.md" in PAGES_WITH_EXAMPLES, "README.md's tour must run"
    # `make demo`/`make test` sync the venv these blocks run from (a demo sync drops the test extras)
    installs = [b.where for b in run if re.search(r"(^|[;&|]\s*)(make|uv|pip)\s", b.code, re.MULTILINE)]
    assert not installs, f"examples that would re-install the running venv must be skipped: {installs}"


def test_the_parser_reads_annotations_and_refuses_unknown_ones(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    text = ('Intro\n\n<!-- example: skip "needs a Vault server" -->\n```bash\nbao status\n```\n\n'
            '<!-- example: expect "a b" expect "c" -->\n```python\nprint("a b c")\n```\n\n'
            '```yaml\nnot: run\n```\n\n  ```sh\n  echo indented\n  ```\n')
    page.write_text(text, encoding="utf-8")
    found = blocks_of(page, tmp_path)
    assert [(b.kind, b.skip, b.expect) for b in found] == [
        ("shell", "needs a Vault server", ()), ("python", None, ("a b", "c")), ("shell", None, ())]
    assert found[2].code == "echo indented\n"
    front = tmp_path / "README.md"  # outside the docs folder: a page named by its file, as README.md is
    front.write_text('Intro\n\n```bash\necho front\n```\n', encoding="utf-8")
    [block] = blocks_of(front, tmp_path / "docs")
    assert (block.page, block.where) == ("README.md", "README.md:3")
    with pytest.raises(ValueError, match="unknown example annotation"):
        parse_note(' run-it-twice ', "x")
    with pytest.raises(ValueError, match="needs a quoted text"):
        parse_note(' skip ', "x")


def test_every_path_the_docs_name_exists() -> None:
    """The architecture map (and every page) names real places: a moved module fails here."""
    named = set()
    for page in pages():
        named |= set(re.findall(r"`((?:nornflow|tests|deployments|examples|blocks|bench|flows)/[\w./-]*)`",
                                page.read_text(encoding="utf-8")))
    assert len(named) > 30
    missing = sorted(p for p in named if "*" not in p and not (ROOT / p).exists())
    assert not missing, f"docs name paths that do not exist: {missing}"


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$", re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, slugged as Python-Markdown's toc does (lower case, words, dashes)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", m["title"]).strip().lower())
            for m in HEADING.finditer(text)}


def test_the_readme_links_to_docs_pages_that_exist() -> None:
    """mkdocs checks the site's links; the README is not in the site, so its links are checked here."""
    targets = [m["target"] for m in LINK.finditer(README.read_text(encoding="utf-8"))]
    local = [t for t in targets if not re.match(r"^[a-z][a-z+.-]*:", t)]
    assert len(local) >= 10, f"the README links to only {len(local)} pages: {local}"
    for target in local:
        path, _, anchor = target.partition("#")
        assert re.fullmatch(r"docs/[\w./-]+\.md", path), f"README.md: {target} is not a relative link to docs/*.md"
        assert (ROOT / path).is_file(), f"README.md links to {path}, which does not exist"
        assert not anchor or anchor in anchors(ROOT / path), f"README.md links to {target}: no such heading"


@pytest.fixture(scope="module")
def docs_env(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NORNFLOW_", "PREFECT_"))}
    env.update(PREFECT_API_URL=prefect_server, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="120",
               PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


def sandbox(base: Path) -> Path:
    """A directory that looks like the repository root: a symlink per top-level entry, its own state."""
    base.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED and not entry.name.endswith(".egg-info"):
            (base / entry.name).symlink_to(entry)
    (base / "home").mkdir()
    return base


def run_block(block: Block, cwd: Path, env: dict[str, str], index: int) -> str:
    if block.kind == "shell":
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        script = cwd / (f"test_example_{index}.py" if block.pytest else f"example_{index}.py")
        script.write_text(block.code, encoding="utf-8")
        python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
        argv = ([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", script.name]
                if block.pytest else [python, script.name])
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.where} exited {done.returncode}:\n{block.code}\n--- output:\n{output[-4000:]}"
    assert "Traceback (most recent call last)" not in output, f"{block.where} printed a traceback:\n{output[-4000:]}"
    for text in block.expect:
        assert text in output, f"{block.where}: expected {text!r} in its output:\n{output[-4000:]}"
    return output


def run_page(page: str, base: Path, env: dict[str, str]) -> tuple[int, float]:
    """Run one page's blocks in order in a sandbox of its own; the number of blocks run, and the seconds."""
    started = time.monotonic()
    cwd = sandbox(base / page.replace("/", "_").removesuffix(".md"))
    env = {**env, "HOME": str(cwd / "home")}
    ran = 0
    try:
        for index, block in enumerate(b for b in ALL_BLOCKS if b.page == page):
            if block.skip is None:
                run_block(block, cwd, env, index)
                ran += 1
    finally:  # a block that failed between `lab up` and `lab down` leaves a lab process behind
        subprocess.run([str(ROOT / ".venv" / "bin" / "nornflow"), "lab", "down"], cwd=cwd, env=env,
                       capture_output=True, timeout=60)
    return ran, time.monotonic() - started


@pytest.fixture(scope="module")
def page_runs(docs_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[tuple[int, float]]]]:
    """Every page's run, started at once on a few threads: the blocks mostly wait on processes
    (imports, SSH sessions, the Prefect server), so three pages at a time take about half as long."""
    base = tmp_path_factory.mktemp("docs")
    # Pages that save a Secret block at the same moment on a fresh server raced in Prefect's schema
    # registration ("ObjectNotFound: None" from one of them); register it once before they start.
    from prefect.blocks.system import Secret

    Secret(value="unused").save("nornflow-docs-test", overwrite=True)  # type: ignore[arg-type]
    weight = {page: sum(len(b.code) for b in ALL_BLOCKS if b.page == page and b.skip is None)
              for page in PAGES_WITH_EXAMPLES}
    with ThreadPoolExecutor(max_workers=PARALLEL_PAGES, thread_name_prefix="docs-page") as pool:
        runs = {page: pool.submit(run_page, page, base, docs_env)
                for page in sorted(PAGES_WITH_EXAMPLES, key=lambda p: -weight[p])}
        yield runs


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_page_examples_run(page: str, page_runs: dict[str, Future[tuple[int, float]]]) -> None:
    ran, seconds = page_runs[page].result(timeout=BLOCK_TIMEOUT * 10)
    print(f"{page}: {ran} examples in {seconds:.1f} s")  # shown with -s (-rP)
    assert ran > 0
