"""``python -m bench [--quick] [only NAME ...]``: Tessera against its peers, same machine, same run.

Benchmarks (one module each): inpage, roundtrip, fanout, composition, recovery, capacity
(``python -m bench capacity`` is short for ``python -m bench only capacity``). A full run
also profiles Tessera where it loses most (profile.py) and writes bench/RESULTS.md; ``--quick``
and ``only`` print the table without rewriting RESULTS.md (``--write`` forces it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .common import BENCH, REPO, Row, Settings, raise_open_files

NAMES = ("inpage", "roundtrip", "fanout", "composition", "recovery", "capacity")
PIP = [sys.executable, "-m", "pip", "install", "-q", "-e", ".[bench]"]
NPM = ["npm", "install", "--prefix", "bench", "--no-audit", "--no-fund"]
APT = "apt-get update && apt-get install -y wrk chromium"


def ensure_tools() -> None:
    """Install what is missing (the pip extra and the npm peers); say the command for the rest."""
    missing = []
    for module in ("flask_socketio", "websockets", "playwright", "gevent", "geventwebsocket"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing or not (Path(sys.executable).parent / "py-spy").exists():
        print(f"installing the bench extra: {' '.join(PIP)}", flush=True)
        subprocess.run(PIP, cwd=REPO, check=True)
    if not (BENCH / "node_modules/mitt").exists() or not (BENCH / "node_modules/single-spa").exists():
        if not shutil.which("npm"):
            sys.exit(f"npm is missing: install Node.js, then run: {' '.join(NPM)}")
        print(f"installing the npm peers: {' '.join(NPM)}", flush=True)
        subprocess.run(NPM, cwd=REPO, check=True)
    absent = [tool for tool in ("wrk", "chromium") if not shutil.which(tool)]
    if absent:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print(f"installing {', '.join(absent)}: {APT}", flush=True)
            subprocess.run(APT, shell=True, check=True)
        else:
            sys.exit(f"missing {', '.join(absent)}: run `sudo sh -c '{APT}'`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and events: a smoke check, not a measure")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md even for --quick or only")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy / Chromium profiles")
    parser.add_argument("only", nargs="*", metavar="only NAME", help=f"run only these: {', '.join(NAMES)}")
    args = parser.parse_args(argv)
    chosen = list(NAMES)
    if args.only and args.only[0] in NAMES:  # python -m bench capacity
        args.only.insert(0, "only")
    if args.only:
        if args.only[0] != "only" or len(args.only) < 2 or not set(args.only[1:]) <= set(NAMES):
            parser.error(f"usage: python -m bench [--quick] [only NAME ...] with NAME in {', '.join(NAMES)}")
        chosen = args.only[1:]
    ensure_tools()
    os.chdir(REPO)
    raise_open_files()  # every server and client process inherits it (capacity opens 10,000 pages)
    settings = Settings(quick=args.quick)
    started = time.monotonic()
    rows: list[Row] = []
    failed = []
    for name in chosen:
        print(f"== {name}", flush=True)
        t = time.monotonic()
        try:
            rows += importlib.import_module(f"bench.{name}").run(settings)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"   ({time.monotonic() - t:.0f} s)", flush=True)
    from . import profile, report

    profiles = None
    full = not args.quick and not args.only
    if not args.no_profile and (full or args.write):
        print("== profile", flush=True)
        try:
            profiles = profile.run(rows)
        except Exception:
            traceback.print_exc()
            failed.append("profile")
    report.print_table(rows)
    elapsed = time.monotonic() - started
    if full or args.write:
        command = "python -m bench" + (" --quick" if args.quick else "") + (f" {' '.join(args.only)}" if args.only else "")
        report.write(rows, profiles, command=command, seconds=elapsed, path=BENCH / "RESULTS.md")
        print(f"wrote {BENCH / 'RESULTS.md'}")
    print(f"total {elapsed / 60:.1f} min" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
