"""The machine description, the results table (stdout and Markdown) and bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path

from .common import BENCH, Row

PACKAGES = ("tessera", "flask", "werkzeug", "gevent", "greenlet", "gunicorn", "gevent-websocket", "flask-sock",
            "simple-websocket", "wsproto", "flask-socketio", "python-socketio", "python-engineio", "websockets",
            "playwright", "py-spy")


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (missing)")
    npm = []
    for name in ("mitt", "single-spa"):
        package = BENCH / "node_modules" / name / "package.json"
        if package.exists():
            import json

            npm.append(f"{name} {json.loads(package.read_text())['version']}")
    return {
        "CPU": f"{model} ({os.cpu_count()} cores)",
        "Memory": f"{memory / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Tessera commit": _run(["git", "-C", str(BENCH.parent), "describe", "--always", "--dirty"]) + _uncommitted(),
        "Open-file limit": " / ".join(str(v) for v in resource.getrlimit(resource.RLIMIT_NOFILE)) + " (soft / hard)",
        "Chromium": _run(["chromium", "--version"]),
        "wrk": _run(["wrk", "-v"]).splitlines()[0] if _run(["wrk", "-v"]) else "missing",
        "Python packages": ", ".join(versions),
        "npm packages": ", ".join(npm) or "missing",
    }


def _uncommitted() -> str:
    """What the measured Tessera had that its commit has not (others edit the same tree)."""
    changed = _run(["git", "-C", str(BENCH.parent), "status", "--porcelain", "--", "server", "shell"]).splitlines()
    return f" (uncommitted changes in {len(changed)} files under server/ and shell/ were measured)" if changed else ""


def _run(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (result.stdout or result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("bytes gz", "1/s", "events/s", "requests/s") or value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def ratio_text(row: Row, peer: str) -> str:
    ratio = row.ratio(peer)
    if ratio is None:
        return "—"
    flag = " **(loses)**" if ratio < 0.95 and peer not in row.references else ""
    return f"{ratio:.2f}×{flag}"


def table(rows: list[Row]) -> list[str]:
    lines = ["| Benchmark | Metric | Unit | Tessera | Peer (median) | Tessera vs peer |",
             "|---|---|---|---:|---|---|"]
    for row in rows:
        peers = [p for p in row.values if p != "tessera"]
        peer_values = "<br>".join(f"{p}: {fmt(row.values[p], row.unit)}" for p in peers)
        ratios = "<br>".join(f"{p}: {ratio_text(row, p)}" for p in peers)
        lines.append(f"| {row.benchmark} | {row.metric} | {row.unit} | {fmt(row.values.get('tessera'), row.unit)} "
                     f"| {peer_values} | {ratios} |")
    return lines


def print_table(rows: list[Row]) -> None:
    print()
    print(f"{'benchmark':12} {'metric':44} {'unit':10} {'tessera':>10}  peers (value, Tessera vs peer: >1 better)")
    for row in rows:
        peers = "; ".join(f"{p} {fmt(row.values[p], row.unit)} ({ratio_text(row, p).replace(' **(loses)**', ' LOSES')})"
                          for p in row.values if p != "tessera")
        print(f"{row.benchmark:12} {row.metric[:44]:44} {row.unit:10} {fmt(row.values.get('tessera'), row.unit):>10}  {peers}")
    print()


def write(rows: list[Row], profile: dict | None, *, command: str, seconds: float, path: Path) -> None:
    info = machine()
    lines = ["# Tessera benchmark results", "",
             f"Produced by `{command}` in {seconds / 60:.1f} minutes (this file is rewritten by every run; "
             "see bench/README.md for what each number means).", "",
             "## Machine", ""]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += ["", "## Results", "",
              "Medians over runs. **Tessera vs peer** is Tessera's advantage: above 1 Tessera is better "
              "(faster, more throughput, less memory or bytes), below 1 it loses. Absolute numbers from this "
              "noisy 2-core machine do not compare across runs; the ratios within one run do.", ""]
    lines += table(rows)
    lines += ["", "Notes per row:", ""]
    for row in rows:
        if row.note:
            lines.append(f"- {row.benchmark} / {row.metric}: {row.note}")
        if row.runs:
            runs = "; ".join(f"{name}: " + ", ".join(fmt(v, row.unit) for v in values if v is not None)
                             for name, values in row.runs.items())
            lines.append(f"  - runs: {runs}")
    lines += ["", "## Where Tessera loses and why", "", "Comparisons below 0.95× in this run:", ""]
    for row in rows:
        for peer in row.values:
            ratio = row.ratio(peer)
            if peer != "tessera" and peer not in row.references and ratio is not None and ratio < 0.95:
                lines.append(f"- {row.benchmark} / {row.metric}: {ratio:.2f}× of {peer}")
    analysis = BENCH / "analysis.md"
    if profile:  # the profiles and their reading only when they ran in this run
        lines += ["", "### Profiles (this run)", ""] + profile_lines(profile)
        if analysis.exists():
            lines += ["", analysis.read_text(encoding="utf-8").strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def profile_lines(profile: dict) -> list[str]:
    lines = []
    for server in profile.get("server", []):
        row = server.get("row")
        where = "" if not row else (f" ({row[0]}: misses its target)" if row[1] == "target"
                                    else f" ({row[0]}: {row[2]:.2f}× of {row[1]})")
        lines += [f"#### Server: py-spy on Tessera during `{server['benchmark']}`{where}", "",
                  f"Flame graph `bench/{server['svg']}`, collapsed stacks `bench/{server['raw']}`; "
                  f"{server['samples']} samples of the server's thread while it ran (idle time left out).", "",
                  "| Own time | Frame | | Total time | Frame |", "|---:|---|---|---:|---|"]
        for (own, own_share), (total, total_share) in zip(server["own"], server["total"]):
            lines.append(f"| {own_share:.1%} | `{own}` | | {total_share:.1%} | `{total}` |")
        lines.append("")
    inpage = profile.get("inpage")
    if inpage:
        lines += ["#### Page: Chromium CPU profile of `tessera.bus.publish` to 10 subscribers", "",
                  f"`bench/{inpage['file']}` (open in DevTools › Performance); {inpage['samples']} samples, "
                  f"garbage collector {inpage['gc']:.1%} of them. Own time, share of non-idle samples:", ""]
        lines += [f"- {share:.1%} `{frame}`" for frame, share in inpage["own"]]
        lines.append("")
    return lines
