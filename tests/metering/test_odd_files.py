"""Odd and hostile files: every ISO 8601 spelling read by every reader, and a clear verdict from
``validate`` (and ``analyze``) for torn, binary, BOM, CRLF, extra-column and seed-written files."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from metering.schema import SEED_COLUMN_NAMES, parse_timestamp, timestamps_to_utc
from metering.store import IncrementalReader, last_timestamp, parse_chunk, read_calls_report

SEED_START = dt.datetime(2026, 11, 2, 0, 0, 49, 499000)

#: the spellings issue 11 names, and what each means in UTC
SPELLINGS = {
    "2026-11-02T00:00:49.499000": "2026-11-02T00:00:49.499+00:00",  # the seed: naive isoformat(), µs
    "2026-11-02T00:00:49.499": "2026-11-02T00:00:49.499+00:00",
    "2026-11-02T00:00:49.499000Z": "2026-11-02T00:00:49.499+00:00",
    "2026-11-02T00:00:49": "2026-11-02T00:00:49+00:00",
    "2026-11-02T00:00:49Z": "2026-11-02T00:00:49+00:00",
    "2026-11-02 00:00:49.499Z": "2026-11-02T00:00:49.499+00:00",
    "2026-11-02T02:00:49.499+02:00": "2026-11-02T00:00:49.499+00:00",
    "2026-11-02T02:00:49+0200": "2026-11-02T00:00:49+00:00",
    "2026-11-01T19:00:49.4-05:00": "2026-11-02T00:00:49.400+00:00",
    "2026-11-02T00:00:49.123456789Z": "2026-11-02T00:00:49.123+00:00",
    "2026-11-02T00:00": "2026-11-02T00:00:00+00:00",
}


def _row(ts: str, i: int) -> list[object]:
    return [
        ts, f"call_{i}", "openai", "gpt-4o", 100, 50, 0.00075, 300, "cust_0001", "pro", "org_001",
        "product_a", "chat", "chat", "production", f"req_{i}", f"tr_{i}", f"s_{i}", "seed/1.0",
    ]  # fmt: skip


def write_seed_file(path: Path, stamps: list[str], *, encoding: str = "utf-8") -> Path:
    """A 19-column file written exactly as the original program writes it: Python's ``csv`` module
    (CRLF line ends) and ``datetime.isoformat()`` timestamps (naive, microseconds)."""
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(SEED_COLUMN_NAMES)
        for i, ts in enumerate(stamps):
            w.writerow(_row(ts, i))
    return path


def seed_stamps(n: int) -> list[str]:
    return [(SEED_START + dt.timedelta(seconds=i)).isoformat() for i in range(n)]


def _validate(capsys, path: Path) -> tuple[int, str]:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


# --- every reader reads every spelling -------------------------------------------------------------
def test_seed_written_file_reads_whole_on_every_path(tmp_path: Path) -> None:
    stamps = seed_stamps(50)
    path = write_seed_file(tmp_path / "seed.csv", stamps)
    assert b"\r\n" in path.read_bytes() and b"49.499000," in path.read_bytes()
    want = [parse_timestamp(s) for s in stamps]
    # fast path
    report = read_calls_report(path)
    assert report.malformed == [] and len(report.frame) == 50
    assert [t.to_pydatetime() for t in report.frame["timestamp"]] == want
    assert set(report.frame["user_agent"]) == {"seed/1.0"}  # no CR left in the last column
    # slow path: one malformed line sends the chunk line by line; the other rows keep their stamps
    with open(path, "ab") as f:
        f.write(b"broken,line\r\n")
    report = read_calls_report(path)
    assert len(report.frame) == 50 and [n for n, _ in report.malformed] == [52]
    assert [t.to_pydatetime() for t in report.frame["timestamp"]] == want
    # tail reader
    assert last_timestamp(path).to_pydatetime() == want[-1]
    # incremental reader: rows appended later in the seed's spelling
    reader = IncrementalReader(path)
    assert len(reader.poll().frame) == 50
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(_row((SEED_START + dt.timedelta(hours=1)).isoformat(), 99))
    assert reader.poll().frame["timestamp"].iloc[0].to_pydatetime() == want[0] + dt.timedelta(hours=1)


@pytest.mark.parametrize("text", list(SPELLINGS))
def test_every_spelling_reads_the_same_instant(tmp_path: Path, text: str) -> None:
    path = write_seed_file(tmp_path / "one.csv", [text, text])
    report = read_calls_report(path)
    assert report.malformed == []
    got = report.frame["timestamp"].iloc[0].to_pydatetime()
    assert got == dt.datetime.fromisoformat(SPELLINGS[text])
    assert last_timestamp(path).to_pydatetime() == got


def test_mixed_spellings_in_one_chunk_and_bad_ones_named(tmp_path: Path) -> None:
    stamps = [*SPELLINGS, "2026-02-30T00:00:00", "yesterday", "2026-11-02T25:00:00"]
    path = write_seed_file(tmp_path / "mixed.csv", stamps)
    report = read_calls_report(path)
    assert len(report.frame) == len(SPELLINGS)
    assert [n for n, _ in report.malformed] == [len(SPELLINGS) + 2, len(SPELLINGS) + 3, len(SPELLINGS) + 4]
    assert all("timestamp" in reason for _, reason in report.malformed)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.sampled_from(["", "Z", "+00:00", "+05:30", "-0800"]),
    st.sampled_from(["T", " "]),
    st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
)
@pytest.mark.slow
def test_vectorized_parse_agrees_with_parse_timestamp(
    moment: dt.datetime, zone: str, sep: str, spec: str
) -> None:
    text = moment.isoformat(sep=sep, timespec=spec) + zone
    one = parse_timestamp(text)
    assert one is not None
    many = timestamps_to_utc(pa.array([text, "not a time", None]))
    assert many[0].as_py() == one.replace(microsecond=one.microsecond // 1000 * 1000)
    assert many[1].as_py() is None and many[2].as_py() is None


# --- validate: a verdict for every odd file, never a traceback --------------------------------------
def test_validate_seed_file_with_naive_microsecond_and_offset_stamps(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "seed.csv", seed_stamps(3) + list(SPELLINGS))
    code, out = _validate(capsys, path)
    assert code == 0, out
    assert f"rows: {3 + len(SPELLINGS)}" in out and "malformed lines: 0" in out
    assert "date range: 2026-11-02T00:00:00.000Z .. 2026-11-02T00:00:51.499Z" in out


def test_validate_torn_last_line_is_an_error_with_line_and_bytes(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "torn.csv", seed_stamps(4))
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # cut mid-row, as a writer killed mid-append leaves it
    torn_bytes = len(data[:-40]) - (data[:-40].rfind(b"\n") + 1)
    code, out = _validate(capsys, path)
    assert code == 1
    assert f"line 5: torn or unterminated last line ({torn_bytes:,} bytes" in out
    assert "rows: 3" in out and "result: ERRORS found" in out


def test_validate_unterminated_last_row_is_reported(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "noeol.csv", seed_stamps(2))
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))  # a complete row, but no final newline
    code, out = _validate(capsys, path)
    assert code == 1 and "line 3: torn or unterminated last line" in out


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (bytes(range(256)) * 64, "binary data (NUL byte at byte 1)"),
        (b"\x89PNG\r\n\x1a\n" + b"\xff\xfe" * 100, "not UTF-8 text (invalid byte at byte 1)"),
        ("timestamp,call_id\n".encode("utf-16"), "binary data"),
        ("timestamp;caf\u00e9\n".encode("latin-1") + b"x" * 10, "not UTF-8 text (invalid byte at byte 14)"),
    ],
)
def test_validate_binary_or_non_utf8_file_is_a_clear_error(capsys, tmp_path: Path, payload, said) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(payload)
    code, out = _validate(capsys, path)
    assert code == 1 and said in out and "result: ERRORS found" in out


@pytest.mark.slow
def test_validate_non_utf8_row_after_the_sniffed_start_is_a_malformed_line(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "late.csv", seed_stamps(2000))
    with open(path, "ab") as f:
        f.write(b"2026-11-02T01:00:00,caf\xe9" + b",x" * 17 + b"\r\n")
    code, out = _validate(capsys, path)
    assert code == 1 and "line 2002: not valid UTF-8" in out


def test_validate_bom_and_crlf_are_fine(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "bom.csv", seed_stamps(3), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbftimestamp,") and b"\r\n" in path.read_bytes()
    code, out = _validate(capsys, path)
    assert code == 0 and "rows: 3" in out and "result: OK" in out


def test_validate_extra_columns_warn_and_still_read(capsys, tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*SEED_COLUMN_NAMES, "team", "cost_center"])
        for i, ts in enumerate(seed_stamps(3)):
            w.writerow([*_row(ts, i), "blue", "cc-1"])
    code, out = _validate(capsys, path)
    assert code == 0
    assert "warning: column(s) this version does not know, ignored: team, cost_center" in out
    assert "rows: 3" in out


def test_validate_wrong_header_names_the_line(capsys, tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerow(_row(seed_stamps(1)[0], 1))  # data where the header should be
    code, out = _validate(capsys, path)
    assert code == 1 and "line 1 (header): required column(s) missing: timestamp" in out


# --- analyze: no valid row is a failure that says why -----------------------------------------------
def test_analyze_exits_non_zero_when_no_row_is_valid(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "bad.csv", ["not a time", "2026-13-01T00:00:00"])
    code = main(["analyze", "--data", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "no valid rows to analyze: all 2 data lines are malformed (first: line 2: column 'timestamp'" in err
    )
    assert not (tmp_path / "out" / "summary.json").exists()
    empty = write_seed_file(tmp_path / "empty.csv", [])
    assert main(["analyze", "--data", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "the file holds no call rows" in capsys.readouterr().err


def test_analyze_reads_a_seed_written_file(capsys, tmp_path: Path) -> None:
    path = write_seed_file(tmp_path / "seed.csv", seed_stamps(20))
    assert (
        main(["analyze", "--data", str(path), "--out", str(tmp_path / "out"), "--only", "understanding"]) == 0
    )
    assert "analyzed 20 calls" in capsys.readouterr().out


def test_parse_chunk_keeps_empty_lines_out(tmp_path: Path) -> None:
    table, malformed = parse_chunk(b"\r\n\r\n", list(SEED_COLUMN_NAMES), 2)
    assert table.num_rows == 0 and malformed == []


# --- the id rule: one rule in the schema, applied by validate ---------------------------------------
HOSTILE_IDS = {
    " ": "leading or trailing whitespace",
    "call\u202e1": "non-printable character (U+202E)",
    "<script>alert(1)</script>": "contains '<' or '>'",
    "call\x1b[31m": "a control character (U+001B)",
    "zero\u200bwidth": "non-printable character (U+200B)",
    "x" * 129: "longer than 128 characters",
}


@pytest.mark.parametrize(("value", "reason"), list(HOSTILE_IDS.items()))
def test_id_rule_refuses_hostile_ids(value: str, reason: str) -> None:
    from metering.schema import id_problem, ids_valid

    assert reason in id_problem(value)
    assert ids_valid([value, "call_ok", "Ünïcode-id", "=HYPERLINK(1)"]).tolist() == [False, True, True, True]


def test_validate_reports_ids_that_break_the_rule(capsys, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SEED_COLUMN_NAMES)
        w.writerow(_row(seed_stamps(1)[0], 1))
        row = _row(seed_stamps(1)[0], 2)
        row[1], row[8] = "call\u202e2", "<script>"
        w.writerow(row)
    code, out = _validate(capsys, path)
    assert code == 1
    assert "call_id: 1 rows break the id rule, e.g. 'call\\u202e2' (contains a non-printable" in out
    assert "customer_id: 1 rows break the id rule, e.g. '<script>' (contains '<' or '>')" in out
