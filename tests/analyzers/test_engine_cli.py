"""The analyze command on the engines and on a Parquet day folder; the compact command."""

from __future__ import annotations

import json

import pytest
from frames import synthetic

from cli import build_parser, main
from metering.store import format_csv, header_line

VOLATILE = ("generated_at", "timings_s", "data_path")


@pytest.fixture
def csv_file(tmp_path):
    p = tmp_path / "calls.csv"
    p.write_bytes(header_line() + format_csv(synthetic(3000, days=12, customers=40, seed=4)))
    return p


def _analyze(tmp_path, name: str, *args: str) -> dict[str, str]:
    out = tmp_path / name
    assert main(["analyze", "--out", str(out), *args]) == 0
    docs = {}
    for f in sorted(out.glob("*.json")):
        doc = json.loads(f.read_text())
        if f.name == "summary.json":
            for k in VOLATILE:
                doc.pop(k)
        docs[f.name] = json.dumps(doc, sort_keys=True)
    return docs


@pytest.mark.slow
def test_local_and_dask_give_identical_json(tmp_path, csv_file):
    common = ["--data", str(csv_file), "--only", "realtime", "--partition-mb", "0.1"]
    local = _analyze(tmp_path, "local", *common)
    dask = _analyze(tmp_path, "dask", *common, "--engine", "dask")
    assert set(local) == {"summary.json", "realtime.json"}
    assert local == dask


def test_cube_only_run_equals_the_full_run_on_the_same_analyzer(tmp_path, csv_file):
    cube = _analyze(tmp_path, "cube", "--data", str(csv_file), "--only", "realtime", "--partition-mb", "0.1")
    rows = _analyze(tmp_path, "rows", "--data", str(csv_file), "--only", "realtime", "--only", "features")
    assert _floats_close(json.loads(cube["realtime.json"]), json.loads(rows["realtime.json"]))


def _floats_close(a, b) -> bool:
    from test_cube_analyzers import assert_same

    assert_same(a, b)
    return True


@pytest.mark.slow
def test_compact_then_analyze_the_folder_equals_the_csv(tmp_path, csv_file, capsys):
    folder = tmp_path / "calls.parquet"
    assert main(["compact", "--data", str(csv_file)]) == 0
    assert "12 day(s) written" in capsys.readouterr().out
    assert folder.is_dir() and len(list(folder.glob("date=*"))) == 12
    assert main(["compact", "--data", str(csv_file)]) == 0
    assert "nothing new" in capsys.readouterr().out
    from_csv = _analyze(tmp_path, "csv", "--data", str(csv_file))
    from_dir = _analyze(tmp_path, "dir", "--data", str(folder))
    assert set(from_csv) == set(from_dir) and len(from_csv) == 9
    for name in from_csv:
        _floats_close(json.loads(from_dir[name]), json.loads(from_csv[name]))


def test_engine_options_in_help():
    help_text = build_parser()._subparsers._group_actions[0].choices["analyze"].format_help()
    for opt in ("--engine", "--scheduler", "--partition-mb"):
        assert opt in help_text


def test_compact_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["compact", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_folder_without_day_partitions_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for only in (["--only", "realtime"], []):
        assert main(["analyze", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), *only]) == 2
        assert "no Parquet day partitions" in capsys.readouterr().err


def test_malformed_lines_in_partitions_are_counted_and_named(tmp_path, csv_file, capsys):
    lines = csv_file.read_bytes().split(b"\n")
    lines[1500] = b"broken,line"
    csv_file.write_bytes(b"\n".join(lines))
    out = tmp_path / "o"
    args = ["analyze", "--data", str(csv_file), "--only", "understanding", "--partition-mb", "0.1"]
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["malformed_lines"] == 1
    assert "1 malformed lines skipped" in capsys.readouterr().err
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("a,b\n1,2\n")
    assert main(["analyze", "--data", str(bad_header), "--only", "realtime", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 1 (header)" in err and err.count(str(bad_header)) == 1


def test_progress_bar_over_partitions_only_on_a_terminal(tmp_path, csv_file, monkeypatch):
    import io
    import sys

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    args = ["analyze", "--data", str(csv_file), "--only", "realtime", "--partition-mb", "0.2"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    drawn = tty.getvalue()
    assert "partitions" in drawn and drawn.count("\r") > 1  # redrawn in place
    last = drawn.strip().split("\r")[-1]
    done, total = last.split("] ")[1].split(" ")[0].split("/")
    assert done == total and int(total) > 1
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert main([*args, "--out", str(tmp_path / "p")]) == 0
    assert "partitions" not in plain.getvalue()
