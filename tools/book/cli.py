"""The command line: ``python -m tools.book COMMAND`` (``--help`` lists the commands)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Sequence

from .driver import DEFAULT_TIMEOUT_S, PROFILES, PUBLISHED
from .paths import REPO_ROOT, BookError

# command -> the module and function that run it (imported only then), and its arguments
COMMANDS = {
    "run": ("driver", "command_run", lambda root, a: (root, a.profile, a.only, a.force, a.timeout)),
    "estimates": ("estimates", "command_estimates",
                  lambda root, a: (a.results or root / "_build" / "dryrun-results",)),
    "build": ("build", "command_build", lambda root, a: (root,)),
    "check": ("checks", "command_check", lambda root, a: (root,)),
    "browser-test": ("browser", "command_browser_test", lambda root, a: (root,)),
    "install-cell": ("colab", "command_install_cell", lambda root, a: (root,)),
    "colab": ("rendition", "command_colab", lambda root, a: (root,)),
    "pin": ("colab", "command_pin", lambda root, a: (root, a.ref)),
    "set-url": ("colab", "command_set_url", lambda root, a: (root, a.url)),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.book", description="Driver of "
                                     "the executable book: execute, check, build and test it.")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the chapter notebooks into book/")
    run.add_argument("--profile", default=PUBLISHED, choices=(PUBLISHED, "auto", *PROFILES),
                     help="published (default): re-execute a stale chapter in the profile it "
                     "was published in (one never run: auto); another: re-execute every "
                     "chapter not recorded in it (auto: full on an H100/H200-class GPU, "
                     "else quick)")
    run.add_argument("--only", nargs="+", metavar="CHAPTER", help="name or prefix, e.g. 04")
    run.add_argument("--force", action="store_true", help="execute even an up-to-date chapter")
    run.add_argument("--timeout", type=float, metavar="S", help="seconds a notebook may run "
                     f"(default: {', '.join(f'{k} {v}' for k, v in DEFAULT_TIMEOUT_S.items())})")
    commands.add_parser("estimates", help="GPU memory and time of the full profile, from a dry "
                        "run").add_argument("results", nargs="?", type=Path,
                                            help="default _build/dryrun-results")
    commands.add_parser("build", help="render the HTML book (warnings are errors)")
    commands.add_parser("check", help="verify what the build needs (stale chapters: warnings)")
    commands.add_parser("browser-test", help="the links, then every page in headless Chromium")
    commands.add_parser("install-cell", help="print the Colab install cell for a notebook")
    commands.add_parser("colab", help="render the executed chapters into colab/")
    commands.add_parser("pin", help="set the tag or commit every install cell installs"
                        ).add_argument("ref", nargs="?", metavar="REF",
                                       help="default: the last commit that changed "
                                       "alexnet_course/ or pyproject.toml (or its tag)")
    commands.add_parser("set-url", help="move the repository: rewrite its URL everywhere"
                        ).add_argument("url", metavar="URL", help="https://github.com/OWNER/NAME")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; a BookError becomes one line and status 2."""
    args = build_parser().parse_args(argv)
    module, function, arguments = COMMANDS[args.command]
    try:
        run = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return run(*arguments(args.root.resolve(), args))
    except BookError as error:
        print(f"book {args.command}: error: {error}", file=sys.stderr)
        return 2
