"""The whole book's execution time per profile, read from the chapters' own results.

Each executed chapter writes ``results/<chapter>/_chapter.json`` (``wall_seconds``,
``profile``, ``device_name``, ``date``); smoke runs write under ``_build/smoke-results``.
Chapters that have not been executed (or not written yet) are listed as missing.

    python -m benchmarks.bench_book [--replace-record]   # make bench passes the flag
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from alexnet_course.course.summary import format_seconds

from .common import REPO_ROOT, write_json
from .records import add_record_options, changed_options, destination

DEFAULT_ROOTS = (REPO_ROOT / "results", REPO_ROOT / "_build" / "smoke-results")


def expected_chapters(notebooks: Path = REPO_ROOT / "notebooks") -> list[str]:
    """Chapter names from ``notebooks/NN_name.ipynb`` (the placeholder excluded)."""
    return sorted(p.stem for p in notebooks.glob("[0-9][0-9]_*.ipynb")
                  if "placeholder" not in p.stem)


def collect(roots=DEFAULT_ROOTS) -> list[dict[str, Any]]:
    """One row per ``_chapter.json`` found, unreadable files skipped with a note."""
    rows = []
    for root in map(Path, roots):
        for path in sorted(root.glob("*/_chapter.json")):
            try:
                rec = json.loads(path.read_text())
                rows.append({"chapter": rec.get("chapter", path.parent.name),
                             "profile": rec.get("profile", "?"),
                             "wall_seconds": float(rec["wall_seconds"]),
                             "device_name": rec.get("device_name", ""),
                             "date": rec.get("date", ""), "commit": rec.get("commit", ""),
                             "path": str(path.relative_to(REPO_ROOT)
                                         if path.is_relative_to(REPO_ROOT) else path)})
            except (OSError, ValueError, KeyError, TypeError) as err:
                print(f"skipping {path}: {err}")
    return rows


def summarise(rows: list[dict[str, Any]], chapters: list[str]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for r in rows:
        p = profiles.setdefault(r["profile"], {"chapters": {}, "total_seconds": 0.0})
        p["chapters"][r["chapter"]] = r
    for name, p in profiles.items():
        p["total_seconds"] = sum(r["wall_seconds"] for r in p["chapters"].values())
        p["missing"] = [c for c in chapters if c not in p["chapters"]]
        p["complete"] = bool(chapters) and not p["missing"]
    return profiles


def markdown_table(payload: dict[str, Any]) -> str:
    profiles = payload["profiles"]
    if not profiles:
        return "_No executed chapter has written `results/<chapter>/_chapter.json` yet._"
    order = [p for p in ("smoke", "quick", "full") if p in profiles] + \
            sorted(p for p in profiles if p not in ("smoke", "quick", "full"))
    chapters = sorted({c for p in profiles.values() for c in p["chapters"]}
                      | set(payload["expected_chapters"]))
    lines = ["| chapter | " + " | ".join(order) + " |", "|---|" + "---:|" * len(order)]

    def cell(prof, ch):
        r = profiles[prof]["chapters"].get(ch)
        return format_seconds(r["wall_seconds"]) if r else "—"

    for ch in chapters:
        lines.append(f"| {ch} | " + " | ".join(cell(p, ch) for p in order) + " |")
    totals = []
    for p in order:
        prof = profiles[p]
        t = format_seconds(prof["total_seconds"])
        totals.append(f"**{t}**" if prof["complete"] else f"{t} ({len(prof['missing'])} missing)")
    lines.append("| **whole book** | " + " | ".join(totals) + " |")
    devices = sorted({f"{p}: {r['device_name']}" for p in order
                      for r in profiles[p]["chapters"].values() if r["device_name"]})
    if devices:
        lines += ["", "Devices: " + "; ".join(devices) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description="The book's execution time per profile.")
    p.add_argument("--roots", nargs="+", default=[str(r) for r in DEFAULT_ROOTS])
    add_record_options(p, "benchmarks/results/book.json")
    args = p.parse_args(argv)
    out = destination("book", differs=changed_options(p, args, "roots"),
                      replace=args.replace_record, out=args.out)
    chapters = expected_chapters()
    rows = collect(args.roots)
    payload = {"benchmark": "book", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "expected_chapters": chapters, "profiles": summarise(rows, chapters)}
    print(markdown_table(payload))
    write_json(out.stem, payload, out.parent)
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    main()
