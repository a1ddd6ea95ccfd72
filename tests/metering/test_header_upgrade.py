"""The one-time header upgrade: a file lacking newer columns gains them on its first append."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from metering import header_upgrade
from metering.schema import COLUMN_NAMES
from metering.store import CallStore, IncrementalReader, format_csv, header_line, read_calls_report

#: a file written by the previous version: every column but the ones the SDK fields brought
OLDER = [c for c in COLUMN_NAMES if c not in ("operation_type", "is_streamed", "api_key_id")]


def _older_file(path: Path, frame: pd.DataFrame, columns: list[str] = OLDER) -> Path:
    path.write_bytes(header_line(columns) + format_csv(frame, columns))
    return path


def test_missing_columns_are_added_once_and_values_kept(tmp_path: Path, make_calls) -> None:
    path = _older_file(tmp_path / "calls.csv", make_calls(40))
    before = read_calls_report(path).frame
    CallStore(path).append(make_calls(5, start=40).assign(api_key_id="key_9f", is_streamed="true"))
    report = read_calls_report(path)
    assert report.malformed == []
    assert report.columns_in_file == [*OLDER, "operation_type", "is_streamed", "api_key_id"]
    pd.testing.assert_frame_equal(
        report.frame.iloc[:40].reset_index(drop=True).astype(object), before.astype(object)
    )
    assert report.frame["api_key_id"].tolist()[-5:] == ["key_9f"] * 5
    assert report.frame["is_streamed"].tolist()[-5:] == ["true"] * 5
    size = path.stat().st_size
    inode = path.stat().st_ino
    CallStore(path).append(make_calls(1, start=45))  # nothing missing any more: a plain append
    assert path.stat().st_ino == inode and path.stat().st_size > size
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_reordered_file_keeps_its_order_with_the_new_columns_at_the_end(tmp_path: Path, make_calls) -> None:
    columns = list(reversed(OLDER))
    path = _older_file(tmp_path / "rev.csv", make_calls(10), columns)
    CallStore(path).append(make_calls(2, start=10).assign(operation_type="EMBED"))
    report = read_calls_report(path)
    assert report.columns_in_file == [*columns, "operation_type", "is_streamed", "api_key_id"]
    assert report.frame["operation_type"].tolist() == [""] * 10 + ["EMBED"] * 2
    assert report.frame["call_id"].tolist()[-1] == "call_00000011"


def test_a_live_reader_sees_a_new_file_and_reads_it_whole(tmp_path: Path, make_calls) -> None:
    path = _older_file(tmp_path / "calls.csv", make_calls(30))
    reader = IncrementalReader(path)
    assert len(reader.poll().frame) == 30
    CallStore(path).append(make_calls(3, start=30))
    result = reader.poll()
    assert result.reset and len(result.frame) == 33


def test_a_failed_upgrade_leaves_the_file_untouched_and_still_appends(
    tmp_path: Path, make_calls, monkeypatch
) -> None:
    path = _older_file(tmp_path / "calls.csv", make_calls(20))
    original = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    CallStore(path).append(make_calls(2, start=20))
    data = path.read_bytes()
    assert data.startswith(original)  # the stored rows are exactly what they were
    assert read_calls_report(path).columns_in_file == OLDER  # appended in the file's own columns
    assert len(read_calls_report(path).frame) == 22
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_without_a_final_newline_cannot_lose_its_last_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,4")
    with open(path, "rb") as f:
        header_upgrade.add_columns(path, f.fileno(), path.stat().st_size, ["c"], b"0")
    assert path.read_bytes() == b"a,b,c\n1,2,0\n3,4,0\n"


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_lines_split_across_read_chunks(tmp_path: Path, monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(header_upgrade, "CHUNK_BYTES", chunk)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\r\n1,22\r\n333,4\r\n5,6\n")
    with open(path, "rb") as f:
        header_upgrade.add_columns(path, f.fileno(), path.stat().st_size, ["c", "d"], b"0,")
    assert path.read_bytes() == b"a,b,c,d\n1,22,0,\n333,4,0,\n5,6,0,\n"
