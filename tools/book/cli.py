"""The command line: ``python -m tools.book {run,build,check,browser-test,links,...}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .paths import REPO_ROOT, BookError, repository_url

DESCRIPTION = "Driver of the executable book: execute, check, build and test it."
EPILOG = """\
Keeping the published edition:
  run                          re-execute stale chapters, each in its recorded profile
  run --profile quick          re-execute every chapter not recorded in quick
  estimates [DIR]              GPU memory and time of the full profile, from a dry run

Publishing for Colab:
  colab                        render book/*.ipynb into colab/ (what the launch buttons open)
  pin [REF]                    the tag or commit every install cell installs (default: HEAD)
  set-url URL                  move the repository: rewrites every file that names the URL
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand and its options."""
    from .driver import DEFAULT_TIMEOUT_S, PROFILES, PUBLISHED

    parser = argparse.ArgumentParser(prog="python -m tools.book", description=DESCRIPTION,
                                     epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the chapter notebooks into book/")
    run.add_argument("--profile", default=PUBLISHED, choices=(PUBLISHED, "auto", *PROFILES),
                     help="run profile. Default published: keep every up-to-date chapter "
                     "whatever its profile, re-execute a stale one in the profile of its "
                     "manifest record, one never run in auto. An explicit profile "
                     "re-executes every chapter not recorded in it (auto: full on CUDA, "
                     "quick on CPU)")
    run.add_argument("--only", nargs="+", metavar="CHAPTER",
                     help="chapters to consider (name or prefix, e.g. 04 or 04_vgg)")
    run.add_argument("--force", action="store_true",
                     help="execute even when notebook and profile are unchanged")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="seconds one notebook may run before it is stopped (default: "
                     + ", ".join(f"{k} {v}" for k, v in DEFAULT_TIMEOUT_S.items()) + ")")
    estimates = commands.add_parser(
        "estimates", help="GPU memory and time of every full-profile run, from a dry run")
    estimates.add_argument("results", nargs="?", type=Path, default=None,
                           help="the dry run's results folder (default _build/dryrun-results)")
    commands.add_parser("build", help="render the HTML book (warnings are errors)")
    check = commands.add_parser("check", help="verify the executed notebooks of the toc")
    check.add_argument("--strict", action="store_true",
                       help="also fail on chapters whose executed copy is stale")
    browser = commands.add_parser("browser-test", help="check the links, then open every "
                                  "page in headless Chromium")
    browser.add_argument("--screenshots", type=int, default=2, metavar="N",
                         help="chapters to screenshot into _build/screenshots (default 2)")
    commands.add_parser("links", help="check the links of the built HTML (LinkChecker)")
    commands.add_parser("install-cell", help="print the Colab install cell for a notebook")
    commands.add_parser("colab", help="write colab/<chapter>.ipynb: the executed chapters with "
                        "glue values, included code and MyST rendered as plain Markdown")
    pin = commands.add_parser("pin", help="write the tag or commit the install cells install "
                              "into _config.yml and every install cell")
    pin.add_argument("ref", nargs="?", default=None, metavar="REF",
                     help="a tag or commit (default: the tag on HEAD, else HEAD's commit)")
    set_url = commands.add_parser("set-url", help="rewrite the repository URL everywhere "
                                  "(install cells, _config.yml, README, renditions)")
    set_url.add_argument("url", metavar="URL", help="e.g. https://github.com/OWNER/NAME")
    commands.add_parser("vendor", help="fetch the pinned JavaScript into "
                        "vendor/node_modules/book-static")
    return parser


def dispatch(command: str, args: argparse.Namespace, root: Path) -> int:
    """Run one subcommand; the modules are imported only when their command runs."""
    if command == "run":
        from .driver import command_run

        return command_run(root, args.profile, args.only, args.force, args.timeout)
    if command == "estimates":
        from .estimates import command_estimates

        return command_estimates(args.results or root / "_build" / "dryrun-results")
    if command == "build":
        from .build import command_build

        return command_build(root)
    if command == "check":
        from .checks import command_check

        return command_check(root, strict=args.strict)
    if command == "browser-test":
        from .browser import command_browser_test

        return command_browser_test(root, args.screenshots)
    if command == "links":
        from .browser import command_links

        return command_links(root)
    if command == "install-cell":
        from .checks import install_cell_source

        from .colab import require_pin

        print(install_cell_source(repository_url(root), require_pin(root)))
        return 0
    if command == "colab":
        from .rendition import command_colab

        return command_colab(root)
    if command == "pin":
        from .colab import command_pin

        return command_pin(root, args.ref)
    if command == "set-url":
        from .colab import command_set_url

        return command_set_url(root, args.url)
    if command == "vendor":
        from .vendor import ensure_vendor

        print(f"vendor: staged in {ensure_vendor(root)}")
        return 0
    raise AssertionError(f"unknown command {command}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; a BookError becomes one line and status 2."""
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args.command, args, args.root.resolve())
    except BookError as error:
        print(f"book {args.command}: error: {error}", file=sys.stderr)
        return 2
