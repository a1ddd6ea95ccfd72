"""The store on odd files: resets, malformed and torn lines, seed-format, reordered, empty files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metering.schema import COLUMN_NAMES, EXTENSION_COLUMNS, SEED_COLUMN_NAMES
from metering.store import (
    CallStore,
    IncrementalReader,
    StoreError,
    concat_frames,
    format_csv,
    header_line,
    last_timestamp,
    read_calls,
    read_calls_report,
)


def _write(path: Path, frame: pd.DataFrame, columns=COLUMN_NAMES) -> None:
    path.write_bytes(header_line(columns) + format_csv(frame, columns))


def test_round_trip_keeps_values_and_types(tmp_path: Path, make_calls) -> None:
    df = make_calls(50)
    df.loc[3, "cost_usd"] = np.nan  # unpriced stays NaN, never 0
    store = CallStore(tmp_path / "c.csv")
    assert store.append(df) == 50
    back = read_calls(store.path)
    assert str(back["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert back["provider"].dtype == "category" and back["scenario"].dtype == "category"
    assert back["input_tokens"].dtype == "int64" and back["cost_usd"].dtype == "float64"
    assert np.isnan(back.loc[3, "cost_usd"])
    pd.testing.assert_series_equal(back["timestamp"], df["timestamp"].dt.as_unit("ms"), check_names=False)
    for c in ("call_id", "model", "subscription_tier", "request_id"):
        assert back[c].astype(str).tolist() == df[c].astype(str).tolist()
    assert format_csv(df) == format_csv(df.copy()), "same data must give the same bytes"
    assert store.path.read_bytes().count(header_line()) == 1


def test_append_records_fills_extension_defaults(tmp_path: Path, make_calls) -> None:
    rec = make_calls(1).drop(columns=[c.name for c in EXTENSION_COLUMNS], errors="ignore").iloc[0].to_dict()
    rec["timestamp"] = "2026-11-19T08:00:03.794Z"
    store = CallStore(tmp_path / "c.csv")
    store.append_records([rec])
    row = read_calls(store.path).iloc[0]
    assert row["timestamp"] == pd.Timestamp("2026-11-19T08:00:03.794Z")
    for col in EXTENSION_COLUMNS:
        assert pd.isna(row[col.name]) if col.default is None else row[col.name] == col.default, col.name


def test_reset_and_truncation_are_detected(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "c.csv"
    store = CallStore(path)
    store.append(make_calls(100))
    reader = IncrementalReader(path)
    assert len(reader.poll().frame) == 100
    store.reset()  # a new run: atomically replaced by a header-only file
    assert path.read_bytes() == header_line()
    store.append(make_calls(300, prefix="new_"))
    result = reader.poll()
    assert result.reset
    assert len(result.frame) == 300 and result.frame["call_id"].str.startswith("new_").all()
    # truncated in place to fewer bytes
    _write(path, make_calls(10, prefix="t_"))
    result = reader.poll()
    assert result.reset and result.frame["call_id"].tolist() == [f"t_{i:08d}" for i in range(10)]
    # truncated in place and regrown past our offset with other content
    _write(path, make_calls(400, prefix="g_"))
    result = reader.poll()
    assert result.reset and len(result.frame) == 400
    assert not reader.poll().reset
    # the file disappears
    path.unlink()
    result = reader.poll()
    assert result.reset and len(result.frame) == 0


def test_malformed_lines_are_skipped_and_named(tmp_path: Path, make_calls) -> None:
    good = format_csv(make_calls(4)).splitlines(keepends=True)
    bad_int = good[1].replace(b",101,", b",lots,", 1)
    negative = good[2].replace(b",52,", b",-52,", 1)
    bad_time = good[3].replace(b"2026-11-19T08:00:03.123Z", b"yesterday", 1)
    no_latency = b",".join(
        v if i != COLUMN_NAMES.index("latency_ms") else b"" for i, v in enumerate(good[0].split(b","))
    )
    path = tmp_path / "c.csv"
    path.write_bytes(
        header_line() + good[0] + b"too,few,fields\n" + bad_int + negative + good[1] + bad_time + no_latency
    )
    report = read_calls_report(path)
    assert len(report.frame) == 2
    reasons = dict(report.malformed)
    assert sorted(reasons) == [3, 4, 5, 7, 8]
    assert f"expected {len(COLUMN_NAMES)} fields, found 3" in reasons[3]
    assert "input_tokens" in reasons[4] and "lots" in reasons[4]
    assert "negative" in reasons[5] and "output_tokens" in reasons[5]
    assert "timestamp" in reasons[7] and "yesterday" in reasons[7]
    assert "latency_ms" in reasons[8] and "missing" in reasons[8]


def test_malformed_line_numbers_count_from_the_file_start_across_polls(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "c.csv"
    CallStore(path).append(make_calls(5))
    reader = IncrementalReader(path)
    reader.poll()
    with open(path, "ab") as f:
        f.write(b"broken line\n")
    CallStore(path).append(make_calls(2, start=5))
    result = reader.poll()
    assert result.malformed == [(7, f"expected {len(COLUMN_NAMES)} fields, found 1")]
    assert len(result.frame) == 2


def test_seed_format_file_written_by_csv_module(tmp_path: Path, make_calls) -> None:
    df = make_calls(20)
    path = tmp_path / "seed.csv"
    with open(path, "w", newline="") as f:  # the seed used csv.writer: CRLF line ends, quoting as needed
        w = csv.writer(f)
        w.writerow(SEED_COLUMN_NAMES)
        for row in df[list(SEED_COLUMN_NAMES)].itertuples(index=False):
            w.writerow(
                [row[0].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", *row[1:-1], "Mozilla/5.0 (X11, Linux)"]
            )
    report = read_calls_report(path)
    assert report.malformed == []
    assert report.columns_in_file == list(SEED_COLUMN_NAMES)
    frame = report.frame
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert frame["call_id"].tolist() == df["call_id"].tolist()
    assert (frame["user_agent"] == "Mozilla/5.0 (X11, Linux)").all()
    assert frame["input_tokens"].tolist() == df["input_tokens"].tolist()
    for col in EXTENSION_COLUMNS:
        expected = frame[col.name].isna() if col.default is None else frame[col.name] == col.default
        assert expected.all(), col.name
    # the first append upgrades the file once: the columns it lacked are added, every value kept
    new = make_calls(3, start=20).assign(api_key_id="key_1a2b", operation_type="CHAT")
    CallStore(path).append(new)
    again = read_calls_report(path)
    assert again.malformed == [] and len(again.frame) == 23
    assert again.columns_in_file == list(COLUMN_NAMES)  # the seed's 19 are the canonical prefix
    assert b"\r" not in path.read_bytes()
    head = again.frame.iloc[:20].reset_index(drop=True)
    pd.testing.assert_frame_equal(head.astype(object), frame.astype(object))
    assert again.frame["api_key_id"].tolist()[-3:] == ["key_1a2b"] * 3  # no longer dropped
    assert again.frame["operation_type"].tolist()[-3:] == ["CHAT"] * 3
    CallStore(path).append_lines(format_csv(make_calls(2, start=23)), 2)  # now canonical: the merger's path
    assert len(read_calls(path)) == 25


def test_reordered_columns(tmp_path: Path, make_calls) -> None:
    df = make_calls(30)
    columns = list(reversed(COLUMN_NAMES))
    path = tmp_path / "rev.csv"
    _write(path, df, columns)
    frame = read_calls(path)
    assert list(frame.columns) == list(COLUMN_NAMES)
    for c in ("call_id", "model", "input_tokens", "cached_tokens", "scenario"):
        assert frame[c].astype(str).tolist() == df[c].astype(str).tolist()
    CallStore(path).append(make_calls(5, start=30))  # written in the file's own column order
    assert read_calls(path)["call_id"].tolist()[-1] == "call_00000034"


def test_empty_missing_header_only_and_bad_header(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    report = read_calls_report(empty)
    assert len(report.frame) == 0 and report.malformed == []
    assert list(report.frame.columns) == list(COLUMN_NAMES)
    head = tmp_path / "head.csv"
    head.write_bytes(header_line())
    assert len(read_calls(head)) == 0
    with pytest.raises(StoreError, match="no such file"):
        read_calls_report(tmp_path / "absent.csv")
    assert len(IncrementalReader(tmp_path / "absent.csv").poll().frame) == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(header_line([c for c in COLUMN_NAMES if c != "model"]))
    with pytest.raises(StoreError, match="missing: model"):
        read_calls_report(bad)
    dup = tmp_path / "dup.csv"
    dup.write_bytes(header_line([*COLUMN_NAMES, "model"]))
    with pytest.raises(StoreError, match="duplicate column.*model"):
        read_calls_report(dup)


def test_torn_last_line_is_ignored_then_repaired(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "c.csv"
    store = CallStore(path)
    store.append(make_calls(10))
    size = path.stat().st_size
    nxt = format_csv(make_calls(1, start=10))
    with open(path, "ab") as f:  # a writer died halfway through a line
        f.write(nxt[:40])
    reader = IncrementalReader(path)
    first = reader.poll()
    assert len(first.frame) == 10 and first.malformed == [] and reader.offset == size
    with open(path, "ab") as f:  # ... and a slow writer completes it
        f.write(nxt[40:])
    assert reader.poll().frame["call_id"].tolist() == ["call_00000010"]
    with open(path, "ab") as f:  # this time the writer dies for good
        f.write(format_csv(make_calls(1, start=11))[:25])
    assert len(reader.poll().frame) == 0
    store.append(make_calls(2, start=12))  # the next writer truncates the torn tail first
    tail = reader.poll()
    assert tail.malformed == [] and tail.frame["call_id"].tolist() == ["call_00000012", "call_00000013"]
    assert not tail.reset
    report = read_calls_report(path)
    assert report.malformed == [] and len(report.frame) == 13


def test_torn_header_is_repaired(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(header_line()[:30])
    assert len(read_calls(path)) == 0
    CallStore(path).append(make_calls(2))
    assert read_calls(path)["call_id"].tolist() == ["call_00000000", "call_00000001"]


def test_append_lines_and_last_timestamp(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "c.csv"
    store = CallStore(path)
    df = make_calls(7)
    store.append_lines(format_csv(df), 7)
    assert last_timestamp(path) == df["timestamp"].iloc[-1]
    with pytest.raises(StoreError, match="newline"):
        store.append_lines(b"no newline", 1)
    rev = tmp_path / "rev.csv"
    _write(rev, df, list(reversed(COLUMN_NAMES)))
    with pytest.raises(StoreError, match="canonical order"):
        CallStore(rev).append_lines(format_csv(df), 7)
    assert os.path.getsize(rev) == len(header_line()) + len(format_csv(df))


def test_concat_frames_keeps_categories(tmp_path: Path, make_calls) -> None:
    a = CallStore(tmp_path / "a.csv")
    a.append(make_calls(3))
    b = CallStore(tmp_path / "b.csv")
    b.append(make_calls(3, start=3, pairs=(("mistral", "mistral-small"),)))
    both = concat_frames([read_calls(a.path), read_calls(b.path)])
    assert both["model"].dtype == "category" and len(both) == 6
    assert set(both["provider"].cat.categories) >= {"openai", "mistral"}


def test_iso_timestamp_spellings_are_normalized_on_write(tmp_path: Path, make_calls) -> None:
    spellings = [
        "2026-11-19T10:00:03+02:00",
        "2026-11-19 08:00:03",
        "2026-11-19T08:00:03.123456Z",
        "2026-11-19T08:00Z",
        "2026-11-19T08:00:03.5",
    ]
    records = make_calls(len(spellings)).to_dict("records")
    for rec, text in zip(records, spellings, strict=True):
        rec["timestamp"] = text
    store = CallStore(tmp_path / "c.csv")
    store.append_records(records)
    report = read_calls_report(store.path)
    assert report.malformed == []
    assert [t.isoformat() for t in report.frame["timestamp"]] == [
        "2026-11-19T08:00:03+00:00",
        "2026-11-19T08:00:03+00:00",
        "2026-11-19T08:00:03.123000+00:00",
        "2026-11-19T08:00:00+00:00",
        "2026-11-19T08:00:03.500000+00:00",
    ]
    assert b"2026-11-19T08:00:03.500Z," in store.path.read_bytes()
    records[0]["timestamp"] = "yesterday"
    with pytest.raises(StoreError, match="not an ISO 8601 timestamp: 'yesterday'"):
        store.append_records(records)
    assert len(read_calls(store.path)) == len(spellings)  # nothing half-written


def test_reset_keeps_rows_from_real_metering(tmp_path: Path, make_calls) -> None:
    """A new simulation run must never delete metered/OTLP rows: reset keeps them, typed and whole."""
    path = tmp_path / "c.csv"
    store = CallStore(path)
    store.append(make_calls(50))
    metered = make_calls(3, prefix="m_").assign(source="metered")
    otlp = make_calls(2, prefix="o_").assign(source="otlp")
    store.append(metered)
    store.append(make_calls(20, prefix="s_"))
    store.append(otlp)
    assert store.reset() == 5
    kept = read_calls(path)
    assert kept["call_id"].tolist() == [f"m_{i:08d}" for i in range(3)] + [f"o_{i:08d}" for i in range(2)]
    assert kept["source"].astype(str).tolist() == ["metered"] * 3 + ["otlp"] * 2
    original = pd.concat([metered, otlp], ignore_index=True)
    assert kept["cost_usd"].tolist() == pytest.approx(original["cost_usd"].tolist())
    assert (kept["timestamp"].to_numpy() == pd.to_datetime(original["timestamp"], utc=True).to_numpy()).all()
    assert store.reset(keep_metered=False) == 0
    assert path.read_bytes() == header_line()
