"""The book driver really executing tiny notebooks with papermill: atomic publishing, failed
and timed-out runs, killing the driver, the results page's re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tools.book import driver, manifest, papermill_run
from tools.book.cli import main
from tools.book.paths import REPO_ROOT

from book_helpers import CPU, URL, code, notebook, write, write_nb


# ------------------------------------------------------- the driver, really executing


def executable_project(root: Path, *cells: dict[str, Any]) -> Path:
    """A project whose only chapter is ``notebooks/01_first.ipynb`` made of ``cells``."""
    write(root / "_config.yml", f"title: t\nrepository:\n  url: {URL}\n")
    write(root / "_toc.yml", "format: jb-book\nroot: book/intro\nchapters:\n"
          "  - file: book/01_first\n")
    write(root / "book" / "intro.md", "# Intro\n")
    write(root / "alexnet_course" / "__init__.py", "")
    write_nb(root / "notebooks" / "01_first.ipynb", notebook(*cells))
    return root


def published(root: Path) -> Path:
    """A previous good page and its manifest record, as a successful run left them."""
    page = write_nb(root / "book" / "01_first.ipynb",
                    notebook(code("print('good')", 1, [{"output_type": "stream",
                                                        "name": "stdout", "text": "good\n"}])))
    record = {"source_sha256": "old", "package_sha256": "old", "profile": "smoke",
              "device": CPU, "date": "2025-01-01T00:00:00+00:00", "wall_s": 1.0}
    write(root / "book" / ".manifest.json", json.dumps({"chapters": {"01_first": record}}))
    return page


def outputs_text(path: Path) -> str:
    """Every output of a notebook as text: streams, data and error values."""
    nb = json.loads(path.read_text())
    outputs = [o for cell in nb["cells"] for o in cell.get("outputs", [])]
    return "".join("".join(o.get("text", "")) + json.dumps(o.get("data", {}))
                   + str(o.get("evalue", "")) for o in outputs)


def wait_gone(pids: list[int], seconds: float = 15) -> list[int]:
    """The pids still running (not zombies) after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def kill(pids: list[int]) -> None:
    """SIGKILL to what a test started and is still running."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


PRINT_ENV = code("import os\nprint('dir=' + str(os.environ.get('COURSE_RESULTS_DIR')))\n"
                 "print('profile=' + str(os.environ.get('COURSE_PROFILE')))", None)


@pytest.mark.parametrize("profile, folder", [("smoke", "_build/smoke-results"),
                                             ("quick", "results/quick")])
def test_run_publishes_a_successful_run_with_the_results_dir(
        tmp_path: Path, profile: str, folder: str, fake_device: None) -> None:
    root = executable_project(tmp_path, PRINT_ENV)
    assert main(["--root", str(root), "run", "--profile", profile]) == 0
    text = outputs_text(root / "book" / "01_first.ipynb")
    assert f"dir={(root / folder).resolve()}\n" in text and f"profile={profile}" in text
    papermill = json.loads((root / "book" / "01_first.ipynb").read_text())["metadata"]["papermill"]
    assert (papermill["input_path"], papermill["output_path"]) == (
        "notebooks/01_first.ipynb", "book/01_first.ipynb")  # no path of this machine
    assert manifest.load_manifest(root)["chapters"]["01_first"]["profile"] == profile
    assert not (root / "_build" / "running" / "01_first.ipynb").exists()
    assert not (root / "_build" / "failed" / "01_first.ipynb").exists()
    assert f"profile={profile}" in (root / "colab" / "01_first.ipynb").read_text()  # its rendition


def test_failed_run_keeps_the_previous_page_and_record(
        tmp_path: Path, capsys: pytest.CaptureFixture, fake_device: None) -> None:
    root = executable_project(tmp_path, code("print('first cell done')", None),
                              code("raise ValueError('boom')", None))
    page = published(root)
    before_page, before_manifest = page.read_bytes(), manifest.load_manifest(root)
    assert main(["--root", str(root), "run", "--profile", "smoke"]) == 1
    assert page.read_bytes() == before_page
    assert manifest.load_manifest(root) == before_manifest
    failed = root / "_build" / "failed" / "01_first.ipynb"
    assert "first cell done" in outputs_text(failed) and "boom" in outputs_text(failed)
    out = capsys.readouterr().out
    assert "_build/failed/01_first.ipynb" in out and "papermill exited" in out


def test_timed_out_run_keeps_the_previous_page_and_stops_the_kernel(
        tmp_path: Path, capsys: pytest.CaptureFixture, fake_device: None) -> None:
    pid_file = tmp_path / "kernel.pid"
    root = executable_project(
        tmp_path / "book_project",
        code(f"import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
             f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
             "print('started')", None),
        code("time.sleep(120)", None))
    page = published(root)
    before = page.read_bytes()
    start = time.monotonic()
    assert main(["--root", str(root), "run", "--profile", "smoke", "--timeout", "6"]) == 1
    assert time.monotonic() - start < 60
    assert "timed out after 6 s" in capsys.readouterr().out
    assert page.read_bytes() == before
    assert "started" in outputs_text(root / "_build" / "failed" / "01_first.ipynb")
    pids = [int(pid) for pid in pid_file.read_text().split()]  # the kernel and its child
    try:
        assert wait_gone(pids, seconds=2) == []
    finally:
        kill(pids)


def driver_mid_chapter(tmp_path: Path, **popen: Any) -> tuple[Path, bytes, subprocess.Popen, list[int]]:
    """``tools.book run`` started on a chapter whose kernel starts a child and then sleeps:
    the project, its published page's bytes, the driver, and the pids of the kernel,
    papermill and the child once the first cell has run."""
    pid_file = tmp_path / "pids.txt"
    root = executable_project(
        tmp_path / "book_project",
        code(f"import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
             f"open({str(pid_file)!r}, 'w').write("
             "f'{os.getpid()} {os.getppid()} {child.pid}')\nprint('started')", None),
        code("time.sleep(300)", None))
    page = published(root)
    before = page.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "tools.book", "--root", str(root), "run",
                             "--profile", "smoke"], cwd=REPO_ROOT, **popen)
    deadline = time.monotonic() + 300  # a loaded 2-core machine starts all three slowly
    try:
        while not pid_file.is_file() or len(pid_file.read_text().split()) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "the kernel never ran"
            time.sleep(0.2)
    except BaseException:  # the caller's clean-up never gets the driver: stop it here
        proc.kill()  # papermill_run.py then ends papermill and the kernel
        proc.wait(timeout=10)
        raise
    return root, before, proc, [int(pid) for pid in pid_file.read_text().split()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killing_the_driver_ends_papermill_and_the_kernel(tmp_path: Path, sig: int) -> None:
    root, before, proc, pids = driver_mid_chapter(tmp_path, stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)  # the first cell's output is saved
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, out
        assert f"stopped by {signal.Signals(sig).name}" in out
        assert wait_gone(pids, seconds=2) == [], "papermill, the kernel or its child survived"
        assert (root / "book" / "01_first.ipynb").read_bytes() == before  # unchanged
        assert (root / "_build" / "failed" / "01_first.ipynb").is_file()
    finally:
        kill([proc.pid, *pids])
        proc.wait(timeout=10)


def test_kill_9_of_the_driver_leaves_no_papermill_or_kernel_behind(tmp_path: Path) -> None:
    # the driver cannot clean up after SIGKILL: papermill_run.py asks Linux to send papermill
    # SIGINT when its parent dies, and papermill then stops its kernel and the kernel's child
    root, before, proc, pids = driver_mid_chapter(tmp_path, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL)
    try:
        proc.kill()
        proc.wait(timeout=10)
        assert wait_gone(pids, seconds=20) == [], "papermill, the kernel or its child survived"
        assert (root / "book" / "01_first.ipynb").read_bytes() == before  # unchanged
    finally:
        kill([proc.pid, *pids])


def test_papermill_whose_driver_died_before_it_started_runs_nothing(tmp_path: Path) -> None:
    # the driver killed while papermill_run.py is still starting: a parent-death signal armed
    # after the parent died never comes, and the notebook used to run on, orphaned
    pid_file, log = tmp_path / "kernel.pid", tmp_path / "papermill.log"
    source = write_nb(tmp_path / "nb.ipynb", notebook(code(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(300)", None)))
    cmd = driver.papermill_command(source, tmp_path / "out.ipynb")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    # the shell plays the driver: it is gone a second before its child execs papermill_run
    shell = subprocess.run(["sh", "-c", f'export {papermill_run.DRIVER_PID}=$$; '
                            f'(sleep 1; exec "$@") >{log} 2>&1 & echo $!', "sh", *cmd],
                           env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    pid = int(shell.stdout)
    try:
        assert wait_gone([pid], seconds=180) == [], "papermill ran without its driver"
        assert not pid_file.exists()  # no kernel was started
        assert "the book driver" in log.read_text() and "is gone" in log.read_text()
    finally:
        kill([pid, *([int(pid_file.read_text())] if pid_file.is_file() else [])])


# papermill as papermill_run.py guards it, but deaf to SIGINT (a kernel shutdown that hangs),
# with a kernel started in a session of its own, as jupyter_client starts one, which has a child
HUNG_PAPERMILL = """
import os, signal, subprocess, sys, time
sys.path.insert(0, {tools!r})
from papermill_run import guard_driver
guard_driver(os.getppid(), grace_s=1.0)
signal.signal(signal.SIGINT, signal.SIG_IGN)
kernel = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300"], start_new_session=True)
open({pids!r}, "w").write(f"{{os.getpid()}} {{kernel.pid}}")
time.sleep(300)
"""


def test_kill_9_of_the_driver_ends_a_hung_papermill_and_its_kernels_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.txt"
    fake = HUNG_PAPERMILL.format(tools=str(Path(papermill_run.__file__).parent),
                                 pids=str(pid_file))
    proc = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                             f"subprocess.Popen([sys.executable, '-c', {fake!r}])\n"
                             "time.sleep(300)"])
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not pid_file.is_file() or len(pid_file.read_text().split()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no fake papermill"
            time.sleep(0.2)
        pids = [int(pid) for pid in pid_file.read_text().split()]
        while len(pids) < 3:  # the kernel's child
            pids += [child.pid for child in psutil.Process(pids[1]).children()]
            assert time.monotonic() < deadline
        proc.kill()
        proc.wait(timeout=10)
        assert wait_gone(pids, seconds=30) == [], "papermill, the kernel or its child survived"
    finally:
        kill([proc.pid, *pids])


def test_results_page_reruns_when_results_change(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture,
                                                 fake_device: None) -> None:
    root = executable_project(tmp_path, code("print('summary')", None))
    write(root / "_toc.yml", "format: jb-book\nroot: book/intro\nchapters:\n"
          "  - file: book/results\n")
    (root / "notebooks" / "01_first.ipynb").rename(root / "notebooks" / "results.ipynb")
    store = root / "results" / "quick"  # the run store of the profile
    write(store / "01_a" / "run.json", '{"row": {"model": "lenet"}}')
    args = ["--root", str(root), "run", "--profile", "quick"]
    assert main(args) == 0
    record = manifest.load_manifest(root)["chapters"]["results"]
    assert record["results_sha256"] == manifest.store_hash(store, "results")
    capsys.readouterr()
    write(store / "results" / "_chapter.json", '{"wall_seconds": 1}')
    assert main(args) == 0
    assert "up to date, skipped" in capsys.readouterr().out
    write(root / "results" / "standard" / "01_a" / "run.json", '{"row": {"model": "vgg"}}')
    assert main(args) == 0  # another profile's store is not this page's
    assert "up to date, skipped" in capsys.readouterr().out
    write(store / "01_a" / "run.json", '{"row": {"model": "alexnet"}}')
    assert main(args) == 0
    assert "running (results changed" in capsys.readouterr().out


def test_a_chapter_reruns_when_its_own_stored_runs_change(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture,
                                                          fake_device: None) -> None:
    root = executable_project(tmp_path, code("print('from the store')", None))
    store = root / "results" / "quick"
    write(store / "01_first" / "run.json", '{"row": {"model": "lenet"}}')
    args = ["--root", str(root), "run", "--profile", "quick"]
    assert main(args) == 0
    write(store / "02_other" / "run.json", '{"row": {"model": "vgg"}}')  # another chapter's
    write(store / "01_first" / "_chapter.json", '{"wall_seconds": 2}')  # what executing it writes
    capsys.readouterr()
    assert main(args) == 0
    assert "up to date, skipped" in capsys.readouterr().out
    write(store / "01_first" / "run.json", '{"row": {"model": "alexnet"}}')  # a refill
    assert main(args) == 0
    assert "running (results changed" in capsys.readouterr().out


def test_a_reply_waited_for_without_timeout_is_polled_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # nbclient's wait for a cell's reply (timeout None) can miss a queued reply under load
    # (jupyter/nbclient#312); papermill_run polls instead, and a timed wait stays as it was
    import asyncio
    from queue import Empty

    from tools.book import papermill_run

    polls: list[float | None] = []

    async def fake_get_msg(self: object, timeout: float | None = None) -> dict:
        polls.append(timeout)
        if len(polls) < 3:
            raise Empty
        return {"msg": len(polls)}

    monkeypatch.setattr(papermill_run, "_get_msg", fake_get_msg)
    assert asyncio.run(papermill_run.get_msg(object())) == {"msg": 3}
    assert polls == [papermill_run.POLL_S] * 3
    with pytest.raises(Empty):
        polls[:] = []
        asyncio.run(papermill_run.get_msg(object(), 0.5))
    assert polls == [0.5]
    assert driver.papermill_command(Path("a.ipynb"), Path("b.ipynb"))[1].endswith("papermill_run.py")


def test_a_cell_that_hangs_fails_in_its_own_timeout_with_the_cell_named(tmp_path: Path) -> None:
    # a cell stalled like the widget cells nbclient loses (jupyter/nbclient#312) must fail in
    # the per-cell limit, not hold the notebook for its whole timeout
    source = write_nb(tmp_path / "nb.ipynb", notebook(code("x = 1", None), code("import time\ntime.sleep(300)", None)))
    cmd = driver.papermill_command(source, tmp_path / "out.ipynb", cell_timeout=5)
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               **{papermill_run.DRIVER_PID: str(os.getpid())})
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode != 0 and time.monotonic() - start < 100
    # nbclient's error names the cell by its source; the saved copy shows where it stopped
    assert "timed out" in done.stderr and "time.sleep(300)" in done.stderr.split("timed out", 1)[1]
    cells = json.loads((tmp_path / "out.ipynb").read_text())["cells"]
    stopped = [c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert ["time.sleep(300)" in "".join(c["source"]) for c in stopped] == [True]
