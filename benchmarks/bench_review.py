"""What a whole review costs a user: `prompt-review review` as a process, in a git repository.

Measured in one run, side by side, against a stub OpenAI server that answers each chat call
after ``latency`` seconds (``tests/fakes/openai_server.py``), on the embedded MLflow store:

- the floor: a bare ``ThreadPoolExecutor(concurrency)`` making the same calls through our
  ``OpenAIProvider``, measured right before each review, after an untimed warm-up round
  (the SDK's import and first connections are not part of it);
- ``reused``: a pull request edits a prompt whose production version was evaluated on the
  same dataset: the candidate is evaluated (N calls), production's run is reused (0 calls);
- ``cold``: the pull request also rewrites the dataset, so both versions are evaluated (2N
  calls; its floor is the floor of 2N calls);
- the no-change review (nothing to evaluate), a 20-example review, the peak RSS of a review
  at N=500, the installed size of the runtime, and ``promptfoo eval`` on the same stub and N
  when ``npx`` is available (pinned below).

Each review is a fresh process, as in CI: Python start-up, MLflow import and store set-up are
part of its time. The machine is shared and noisy: read the ratios, which come from rows
measured a few seconds apart. Targets (issue 9) are printed beside each row.

    .venv/bin/python benchmarks/bench_review.py [--examples 100 300] [--latency 0.1 1.0]
        [--concurrency 8] [--no-promptfoo] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

PROMPTFOO = "promptfoo@0.121.20"  # the newest release that runs on Node.js 20
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
X = "\N{MULTIPLICATION SIGN}"
TERSE = "What is the capital of {{ country }}? Reply with the city name only."
TERSER = "Capital of {{ country }}? City name only."


def answer(request: dict[str, Any]) -> str:
    """The stub's 'model': the right city for 'country N', so every score is 1.0."""
    text = str(request["messages"][-1]["content"])
    number = text.rsplit("country ", maxsplit=1)[-1].split("?", maxsplit=1)[0].strip()
    return f"City {number}"


@dataclass
class Row:
    label: str
    seconds: float
    floor: float | None
    calls: int
    cpu: float | None = None
    target: str = ""
    verdict: str = ""
    note: str = ""


class Bench:
    def __init__(self, concurrency: int, work: Path) -> None:
        from tests.fakes.openai_server import OpenAIStub

        self.concurrency = concurrency
        self.work = work
        self.stub = OpenAIStub(responder=answer).start()
        self.rows: list[Row] = []
        self.last_cpu: float | None = None

    def close(self) -> None:
        self.stub.close()

    # -- the floor ---------------------------------------------------------------------
    def floor(self, calls: int, latency: float) -> float:
        from prompt_review.config import ModelConfig
        from prompt_review.providers.openai import OpenAIProvider

        self.stub.latency_seconds = latency
        provider = OpenAIProvider(api_key="sk-bench", base_url=self.stub.base_url)
        model = ModelConfig(name="gpt-4o-mini", temperature=0)
        messages = [[{"role": "user", "content": f"floor {i}?"}] for i in range(calls)]
        # The SDK's import and first connection are one-time costs: outside the floor.
        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(lambda m: provider.complete(m, model), messages[: self.concurrency]))
        started = time.perf_counter()
        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(lambda m: provider.complete(m, model), messages))
        provider.close()
        return time.perf_counter() - started

    # -- a repository under review -----------------------------------------------------
    def repo(self, label: str, examples: int) -> Path:
        root = self.work / label
        root.mkdir(parents=True)
        git(root, "init", "-q", "-b", "main")
        write(root / ".prompt-review.yml", config(self.concurrency))
        write(root / "prompts" / "capital.yaml", f'template: "{TERSE}"\n')
        write(root / "datasets" / "capital.jsonl", dataset(examples))
        git(root, "add", "-A")
        git(root, *IDENTITY, "commit", "-q", "-m", "production")
        return root

    def cli(self, root: Path, *args: str) -> tuple[float, int, float, str]:
        """(seconds, exit code, peak RSS MiB, stderr) of one `prompt-review` process."""
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OPENAI_"))},
            "OPENAI_BASE_URL": self.stub.base_url,
            "OPENAI_API_KEY": "sk-bench",
        }
        probe = (
            "import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "t = time.perf_counter() - t\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "cpu = u.ru_utime + u.ru_stime\n"
            "sys.stdout.write(f'{t} {p.returncode} {u.ru_maxrss / 1024} {cpu}\\n')\n"
            "sys.stderr.write(p.stderr)\n"
        )
        command = [
            sys.executable,
            "-c",
            probe,
            str(Path(sys.executable).parent / "prompt-review"),
            *args,
        ]
        if not Path(command[3]).exists():
            command[3:4] = [sys.executable, "-m", "prompt_review.cli"]
        done = subprocess.run(
            [*command, "--repo", str(root)], capture_output=True, text=True, env=env, check=False
        )
        seconds, code, rss, cpu = done.stdout.split()
        self.last_cpu = float(cpu)
        return float(seconds), int(code), float(rss), done.stderr

    def review_case(self, examples: int, latency: float) -> None:
        label = f"N={examples}, {latency * 1000:.0f} ms"
        root = self.repo(f"n{examples}-l{latency}", examples)
        self.stub.latency_seconds = latency
        _, code, _, err = self.cli(root, "promote", "--all")
        assert code == 0, err
        git(root, "checkout", "-q", "-b", "terser")
        write(root / "prompts" / "capital.yaml", f'template: "{TERSER}"\n')
        git(root, *IDENTITY, "commit", "-qam", "terser")
        floor = self.floor(examples, latency)
        before = self.stub.call_count
        seconds, code, _, err = self.cli(root, "review", "--base", "main")
        assert code == 0, err
        calls = self.stub.call_count - before
        assert calls == examples, f"reused baseline: expected {examples} calls, got {calls}"
        self.add(f"{label}, reused baseline", seconds, floor, calls, budget=(1.5, 3.0))

        git(root, "checkout", "-q", "-b", "cold")
        write(root / "datasets" / "capital.jsonl", dataset(examples, ids=True))
        git(root, *IDENTITY, "commit", "-qam", "new dataset")
        floor2 = self.floor(2 * examples, latency)
        before = self.stub.call_count
        seconds, code, _, err = self.cli(root, "review", "--base", "main")
        assert code == 0, err
        calls = self.stub.call_count - before
        assert calls == 2 * examples, f"cold: expected {2 * examples} calls, got {calls}"
        self.add(f"{label}, cold (both versions)", seconds, floor2, calls, budget=(1.5, 3.0))

    def small_and_idle(self) -> None:
        root = self.repo("n20", 20)
        self.stub.latency_seconds = 0.1
        _, code, _, err = self.cli(root, "promote", "--all")
        assert code == 0, err
        seconds, code, _, err = self.cli(root, "review")
        assert code == 0, err
        self.add("no-change review", seconds, None, 0, limit=2.0)
        git(root, "checkout", "-q", "-b", "terser")
        write(root / "prompts" / "capital.yaml", f'template: "{TERSER}"\n')
        git(root, *IDENTITY, "commit", "-qam", "terser")
        seconds, code, _, err = self.cli(root, "review", "--base", "main")
        assert code == 0, err
        self.add("N=20, 100 ms, reused baseline", seconds, self.floor(20, 0.1), 20, limit=5.0)

    def peak_rss(self, examples: int) -> float:
        root = self.repo(f"rss{examples}", examples)
        self.stub.latency_seconds = 0.0
        seconds, code, rss, err = self.cli(root, "review", "--all")
        assert code == 0, err
        self.rows.append(Row(f"N={examples}, 0 ms, new prompt", seconds, None, examples,
                             note=f"peak RSS {rss:.0f} MiB"))  # fmt: skip
        return rss

    def promptfoo(self, examples: int, latency: float) -> None:
        npx = shutil.which("npx")
        if npx is None:
            self.rows.append(Row(f"promptfoo N={examples}", 0, None, 0, note="npx not found"))
            return
        folder = self.work / f"promptfoo-{examples}"
        folder.mkdir()
        tests = [
            {
                "vars": {"country": f"country {i}"},
                "assert": [{"type": "equals", "value": f"City {i}"}],
            }
            for i in range(examples)
        ]
        suite = {
            "prompts": [TERSE.replace("{{ country }}", "{{country}}")],
            "providers": [{"id": "openai:chat:gpt-4o-mini",
                           "config": {"apiBaseUrl": self.stub.base_url, "temperature": 0}}],
            "tests": tests,
        }  # fmt: skip
        write(folder / "promptfooconfig.json", json.dumps(suite))
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "PROMPTFOO_DISABLE_TELEMETRY": "1",
               "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_CACHE_ENABLED": "false",
               "HOME": str(folder)}  # fmt: skip
        command = [npx, "--yes", PROMPTFOO, "eval", "-c", "promptfooconfig.json",
                   "-j", str(self.concurrency), "--no-cache", "--no-progress-bar",
                   "-o", "out.json"]  # fmt: skip
        warm = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                              check=False, timeout=1800)  # fmt: skip
        if not (folder / "out.json").exists():
            tail = (warm.stderr or warm.stdout)[-300:]
            self.rows.append(Row(f"promptfoo N={examples}", 0, None, 0, note=f"failed: {tail}"))
            return
        self.stub.latency_seconds = latency
        floor = self.floor(examples, latency)
        before = self.stub.call_count
        started = time.perf_counter()
        subprocess.run(command, cwd=folder, env=env, capture_output=True, check=False, timeout=1800)
        seconds = time.perf_counter() - started
        calls = self.stub.call_count - before
        self.add(f"promptfoo eval N={examples}, {latency * 1000:.0f} ms", seconds, floor, calls)

    def add(
        self,
        label: str,
        seconds: float,
        floor: float | None,
        calls: int,
        *,
        budget: tuple[float, float] | None = None,
        limit: float | None = None,
    ) -> None:
        row = Row(label, seconds, floor, calls, cpu=self.last_cpu)
        self.last_cpu = None
        if budget is not None and floor is not None:
            target = budget[0] * floor + budget[1]
            row.target = f"≤ {budget[0]}{X}floor+{budget[1]:g} s = {target:.1f} s"
            row.verdict = "met" if seconds <= target else f"missed by {seconds - target:.1f} s"
        if limit is not None:
            row.target = f"≤ {limit:g} s"
            row.verdict = "met" if seconds <= limit else f"missed by {seconds - limit:.1f} s"
        self.rows.append(row)
        print(f"  {label}: {seconds:.2f} s", file=sys.stderr, flush=True)


def config(concurrency: int) -> str:
    return (
        "experiment: bench\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  scorers: [exact_match]\n"
        f"evaluation: {{concurrency: {concurrency}}}\n"
    )


def dataset(examples: int, *, ids: bool = False) -> str:
    rows = []
    for i in range(examples):
        row: dict[str, Any] = {
            "inputs": {"country": f"country {i}"},
            "expectations": {"expected_response": f"City {i}"},
        }
        if ids:
            row = {"id": f"c{i}", **row}
        rows.append(json.dumps(row))
    return "\n".join(rows) + "\n"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def installed_mib(distribution: str = "prompt-review") -> tuple[float, int]:
    """Size of the runtime: prompt-review and its dependency closure as installed here."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    queue = [distribution]
    total = 0
    while queue:
        name = queue.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return total / 2**20, len(seen)


def table(rows: Sequence[Row]) -> str:
    lines = [
        f"| case | seconds | CPU s | floor | {X} floor | model calls | target | verdict | note |",
        "|---|--:|--:|--:|--:|--:|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.seconds / r.floor:.2f}" if r.floor else ""
        floor = f"{r.floor:.2f}" if r.floor else ""
        cpu = f"{r.cpu:.2f}" if r.cpu is not None else ""
        lines.append(
            f"| {r.label} | {r.seconds:.2f} | {cpu} | {floor} | {ratio} | {r.calls} | {r.target} "
            f"| {r.verdict} | {r.note} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rss-examples", type=int, default=500)
    parser.add_argument("--no-promptfoo", action="store_true")
    parser.add_argument("--quick", action="store_true", help="N=100, 100 ms only")
    args = parser.parse_args(argv)
    if args.quick:
        args.examples, args.latency = [100], [0.1]
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    bench = Bench(args.concurrency, work)
    try:
        bench.small_and_idle()
        for examples in args.examples:
            for latency in args.latency:
                bench.review_case(examples, latency)
        if not args.no_promptfoo:
            for examples in args.examples:
                bench.promptfoo(examples, 0.1)
        bench.peak_rss(args.rss_examples)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    size, packages = installed_mib()
    import mlflow

    print(f"\nprompt-review review, end to end (mlflow {mlflow.__version__}, {os.cpu_count()} CPUs,"
          f" concurrency {args.concurrency}, embedded SQLite store)\n")  # fmt: skip
    print(table(bench.rows))
    print(f"\ninstalled runtime: {size:.0f} MiB in {packages} distributions")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this benchmark process: peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
