"""``revenium-flow validate`` and ``revenium-flow prices``: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli import main
from metering.schema import COLUMN_NAMES
from metering.store import CallStore, format_csv, header_line


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def clean_file(tmp_path: Path, make_calls) -> Path:
    df = make_calls(100)
    df.loc[5, "cost_usd"] = np.nan
    path = tmp_path / "calls.csv"
    CallStore(path).append(df)
    return path


def test_validate_clean_file(capsys, clean_file: Path, make_calls) -> None:
    code, out, _ = _run(capsys, "validate", str(clean_file))
    assert code == 0
    assert "rows: 100" in out
    assert "malformed lines: 0" in out and "duplicate call_ids: 0" in out
    assert "date range: 2026-11-19T08:00:00.123Z .. 2026-11-19T08:01:39.123Z" in out
    total = make_calls(100)["cost_usd"].drop(index=5).sum()
    assert f"total cost: ${total:,.4f} (1 unpriced calls)" in out
    assert "result: OK" in out


def test_validate_reports_malformed_lines_with_numbers(capsys, clean_file: Path) -> None:
    with open(clean_file, "ab") as f:
        f.write(b"x,y\n" * 25)
    code, out, _ = _run(capsys, "validate", str(clean_file))
    assert code == 1
    assert "malformed lines: 25" in out
    assert f"  line 102: expected {len(COLUMN_NAMES)} fields, found 2" in out
    assert "  line 121:" in out and "  line 122:" not in out  # the first 20 shown
    assert "... and 5 more" in out
    assert "result: ERRORS found" in out


def test_validate_duplicates_wrong_provider_unknown_model(capsys, tmp_path: Path, make_calls) -> None:
    path = tmp_path / "calls.csv"
    store = CallStore(path)
    store.append(make_calls(10))
    store.append(make_calls(3))  # the same call_ids again
    code, out, _ = _run(capsys, "validate", str(path))
    assert code == 1
    assert "duplicate call_ids: 3" in out and "e.g. call_00000000, call_00000001, call_00000002" in out

    path2 = tmp_path / "models.csv"
    CallStore(path2).append(make_calls(4, pairs=(("openai", "gpt-7"),)))
    code, out, _ = _run(capsys, "validate", str(path2))
    assert code == 0  # an unknown model is unpriced, a warning
    assert (
        "unknown models (not in the catalog, unpriced): 1 (4 rows)" in out and "openai/gpt-7: 4 rows" in out
    )

    path3 = tmp_path / "wrong.csv"
    CallStore(path3).append(make_calls(2, pairs=(("azure", "gpt-4o"),)))
    code, out, _ = _run(capsys, "validate", str(path3))
    assert code == 1
    assert "azure/gpt-4o: 2 rows (model belongs to provider 'openai')" in out


def test_validate_invalid_values(capsys, tmp_path: Path, make_calls) -> None:
    df = make_calls(3)
    df["subscription_tier"] = "gold"
    df.loc[0, "cached_tokens"] = 10_000
    path = tmp_path / "calls.csv"
    CallStore(path).append(df)
    code, out, _ = _run(capsys, "validate", str(path))
    assert code == 1
    assert "subscription_tier: unknown value 'gold' in 3 rows" in out
    assert "cached_tokens: exceeds input_tokens in 1 rows" in out


def test_validate_bad_header_missing_file_bad_catalog(
    capsys, tmp_path: Path, clean_file: Path, make_calls
) -> None:
    path = tmp_path / "bad.csv"
    cols = [c for c in COLUMN_NAMES if c != "latency_ms"]
    path.write_bytes(header_line(cols) + format_csv(make_calls(2), cols))
    code, _, err = _run(capsys, "validate", str(path))
    assert code == 1 and "required column(s) missing: latency_ms" in err
    code, _, err = _run(capsys, "validate", str(tmp_path / "absent.csv"))
    assert code == 2 and "no such file" in err
    bad_catalog = tmp_path / "p.json"
    bad_catalog.write_text("{}")
    code, _, err = _run(capsys, "validate", str(clean_file), "--prices", str(bad_catalog))
    assert code == 2 and "no model prices found" in err


def test_validate_seed_and_empty_files(capsys, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, _ = _run(capsys, "validate", str(empty))
    assert code == 0 and "rows: 0" in out and "date range: none" in out
    seed = tmp_path / "seed.csv"
    seed.write_bytes(header_line(COLUMN_NAMES[:19]))
    code, out, _ = _run(capsys, "validate", str(seed))
    assert code == 0 and "columns: 19" in out and "filled with defaults: region" in out


def test_prices_table_and_filters(capsys) -> None:
    code, out, _ = _run(capsys, "prices")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "provider",
        "model",
        "effective_from",
        "input/1K",
        "output/1K",
        "cache_read/1K",
        "cache_write/1K",
        "reasoning/1K",
    ]
    assert len({len(line) for line in lines[1:25]}) <= 2  # aligned (trailing '-' columns may be trimmed)
    gpt4 = next(line for line in lines if line.split()[1:2] == ["gpt-4"])
    assert gpt4.split()[:5] == ["openai", "gpt-4", "2024-01-01", "0.03", "0.06"]
    assert "24 price entries, 24 models" in out
    code, out, _ = _run(capsys, "prices", "--provider", "cohere")
    assert code == 0 and {line.split()[0] for line in out.splitlines()[1:4]} == {"cohere"}
    code, _, err = _run(capsys, "prices", "--provider", "nobody")
    assert code == 2 and "no provider 'nobody'" in err


def test_prices_json_and_custom_catalog(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "prices", "--json", "--provider", "openai")
    assert code == 0
    doc = json.loads(out)
    gpt4o = next(p for p in doc["prices"] if p["model"] == "gpt-4o")
    assert gpt4o == {
        "provider": "openai",
        "model": "gpt-4o",
        "effective_from": "2024-01-01",
        "input_per_1k": 0.0025,
        "output_per_1k": 0.01,
        "cache_read_per_1k": 0.00025,
        "reasoning_per_1k": None,
        "cache_creation_per_1k": 0.0025,
    }
    custom = tmp_path / "p.json"
    custom.write_text(
        json.dumps(
            {"x": {"litellm_provider": "acme", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}
        )
    )
    code, out, _ = _run(capsys, "prices", "--prices", str(custom))
    assert code == 0 and "acme" in out and "0.001" in out and "0.002" in out
    custom.write_text(
        '{"x": {"litellm_provider": "acme", "input_cost_per_token": -1, "output_cost_per_token": 0}}'
    )
    code, _, err = _run(capsys, "prices", "--prices", str(custom))
    assert code == 2 and "'input_cost_per_token' must be a number >= 0" in err


def test_version_is_looked_up_only_when_asked(capsys) -> None:
    import subprocess
    import sys

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("revenium-flow ")
    probe = "import sys, cli; cli.build_parser(); print('importlib.metadata' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # every command's start-up skips the ~80 ms lookup
