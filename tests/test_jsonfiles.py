"""A damaged course JSON is an error naming the file and the fix, wherever it is read."""

import pytest
import torch

from alexnet_course.course import ddp_check, protocol, speedruns, store, summary
from alexnet_course.jsonfiles import DamagedFile, read_json
from benchmarks import speedrun as bench

BROKEN = ["{not json", b"\xff\xfe\x00"]


def _broken(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("content", BROKEN)
def test_read_json_names_the_file_and_the_fix(tmp_path, content):
    path = _broken(tmp_path / "x.json", content)
    with pytest.raises(DamagedFile, match=rf"{path}: this JSON file is damaged \(.*\); delete it") as err:
        read_json(path, fix="delete it")
    assert isinstance(err.value, ValueError) and err.value.path == path
    assert read_json(_broken(tmp_path / "ok.json", '{"a": 1}'), fix="") == {"a": 1}


def test_a_damaged_stored_run_says_which_chapter_to_rerun(tmp_path):
    path = _broken(tmp_path / "results" / "standard" / "01_lenet" / "baseline.json", "{")
    with pytest.raises(DamagedFile, match=rf"{path}: .*delete it and rerun `python -m "
                                          rf"alexnet_course.run 01_lenet --profile standard`"):
        store.read(path)


def test_damaged_verdicts_speedruns_and_pages_are_named(tmp_path):
    verdicts = _broken(tmp_path / "standard" / "02_x" / protocol.VERDICTS, "{")
    for read in (protocol.read_verdicts, protocol.read_pilots):
        with pytest.raises(DamagedFile, match=rf"{verdicts}: .*python -m alexnet_course.run 02_x"):
            read(verdicts.parent)
    record = _broken(tmp_path / "bench" / "speedrun_cpu_90.json", "[1,")
    with pytest.raises(DamagedFile, match=rf"{record}: .*make speedrun"):
        speedruns.load_speedruns(record.parent)
    page = _broken(tmp_path / "book" / "01_a.ipynb", "{")
    with pytest.raises(DamagedFile, match=rf"{page}: .*execute the chapter again"):
        summary.answers([page])
    results = _broken(tmp_path / "res" / "01_a" / "r.json", "{")
    with pytest.raises(summary.ResultsError, match=rf"{results}: .*re-run the chapter"):
        summary.load_results(results.parent.parent)


def test_a_damaged_ddp_history_is_named(tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        torch.save({"w": torch.zeros(2)}, tmp_path / run / "weights.pt")
    _broken(tmp_path / "a" / "history_rank0.json", "{")
    with pytest.raises(DamagedFile, match=rf"{tmp_path / 'a' / 'history_rank0.json'}: .*"
                                          rf"{ddp_check.MODULE}"):
        ddp_check.compare(tmp_path / "a", tmp_path / "b")


def test_resume_from_a_damaged_record_says_how_to_start_afresh(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "run_one", lambda *a, **kw: pytest.fail("trained"))
    out = _broken(tmp_path / "speedrun.json", '{"seeds": [')
    argv = ["--target", "0.90", "--seeds", "1", "--in-process", "--out", str(out), "--resume"]
    with pytest.raises(DamagedFile, match=rf"{out}: .*drop --resume"):
        bench.main(argv)
    assert out.read_text() == '{"seeds": ['  # left as it was, for the reader to look at
