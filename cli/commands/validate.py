"""``revenium-flow validate PATH``: check a call-record CSV before trusting its numbers.

Reads the whole file once through the store's vectorized reader, then reports rows, malformed lines,
unknown (unpriced) models, models under the wrong provider, duplicate call_ids, values outside the
schema's vocabularies, the date range and the total cost. Exit 0 = clean (warnings allowed),
1 = errors found, 2 = the file or the price catalog cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SHOW_MALFORMED = 20
SHOW_EXAMPLES = 5


def add_parser(subparsers: Any) -> None:
    from cli.commands.common import add_catalog_options

    p = subparsers.add_parser("validate", help="check a call-record CSV and report problems")
    p.add_argument("path", type=Path, help="call-record CSV to check")
    add_catalog_options(p)
    p.set_defaults(func=run)


def _pairs(frame: Any) -> Any:
    """Row count per (provider, model) pair present in the file."""
    return frame.groupby(["provider", "model"], observed=True).size()


def _model_problems(frame: Any, catalog: Any) -> tuple[list[str], list[str], int]:
    """(unknown-model lines, wrong-provider lines, rows whose model is unknown to the catalog)."""
    owner = catalog.model_provider()
    unknown: list[str] = []
    wrong: list[str] = []
    unknown_rows = 0
    for (provider, model), count in _pairs(frame).items():
        if (provider, model) in catalog.prices:
            continue
        if model in owner and owner[model] != provider:
            wrong.append(f"{provider}/{model}: {count:,} rows (model belongs to provider {owner[model]!r})")
        else:
            unknown.append(f"{provider}/{model}: {count:,} rows")
            unknown_rows += int(count)
    return unknown, wrong, unknown_rows


def _vocabulary_problems(frame: Any) -> list[str]:
    """Values outside the schema's fixed vocabularies and impossible token splits (vectorized)."""
    from metering.schema import ENVIRONMENTS, SOURCES, STOP_REASONS, TIERS

    out: list[str] = []
    for column, allowed in (
        ("subscription_tier", TIERS),
        ("environment", ENVIRONMENTS),
        ("stop_reason", STOP_REASONS),
        ("source", SOURCES),
    ):
        counts = frame[column].value_counts()
        bad = counts[~counts.index.isin(allowed) & (counts > 0)]
        for value, count in bad.items():
            out.append(
                f"{column}: unknown value {value!r} in {count:,} rows; expected one of {', '.join(allowed)}"
            )
    for part, whole in (("cached_tokens", "input_tokens"), ("reasoning_tokens", "output_tokens")):
        over = int((frame[part] > frame[whole]).sum())
        if over:
            out.append(f"{part}: exceeds {whole} in {over:,} rows")
    both = int(((frame["cached_tokens"] + frame["cache_creation_tokens"]) > frame["input_tokens"]).sum())
    if both:
        out.append(f"cache_creation_tokens: with cached_tokens exceeds input_tokens in {both:,} rows")
    out.extend(_id_problems(frame))
    return out


def _id_problems(frame: Any) -> list[str]:
    """Id columns whose values break the schema's id rule (``metering.schema.id_problem``)."""
    from metering.schema import ID_COLUMNS, id_problem, ids_valid

    out: list[str] = []
    for column in ID_COLUMNS:
        bad = ~ids_valid(frame[column])
        count = int(bad.sum())
        if count:
            example = frame[column][bad].iloc[0]
            out.append(
                f"{column}: {count:,} rows break the id rule, e.g. {str(example)[:40]!r} "
                f"({id_problem(example)})"
            )
    return out


#: bytes sniffed at the start of the file for binary / non-UTF-8 content
SNIFF_BYTES = 1 << 16


def text_problem(head: bytes) -> str | None:
    """Why the file's first bytes are not CSV text (NUL bytes, invalid UTF-8), or None."""
    import codecs

    nul = head.find(b"\x00")
    if nul >= 0:
        return f"binary data (NUL byte at byte {nul + 1}): not a CSV text file"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut last character is fine
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (invalid byte at byte {exc.start + 1}): not a CSV text file"
    return None


def torn_tail(path: Path, offset: int, line_no: int) -> str | None:
    """The unterminated last line after the reader's ``offset`` (a file cut mid-row), or None."""
    size = path.stat().st_size
    if size <= offset:
        return None
    return (
        f"line {line_no + 1}: torn or unterminated last line ({size - offset:,} bytes without a final "
        "newline; a writer stopped mid-row): not counted as data"
    )


def _print_generation(path: Path) -> None:
    """The generator's manifest beside the file, if any: its state in plain words."""
    from metering.manifest import STATE_LABELS, read_manifest

    m = read_manifest(path)
    if m is None:
        return
    detail = f": {m.message}" if m.state in ("interrupted", "error") and m.message else ""
    print(f"generation: {STATE_LABELS.get(m.state, m.state)}{detail}")
    if m.state == "interrupted":
        print(
            "warning: the rows written before the interruption are whole; `generate --append` continues them"
        )


def run(args: argparse.Namespace) -> int:
    from metering.prices import CatalogError, load_catalog
    from metering.schema import COLUMN_NAMES, format_timestamp
    from metering.store import IncrementalReader, StoreError

    path = Path(args.path)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    try:
        catalog = load_catalog(args.prices)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with open(path, "rb") as f:
            not_text = text_problem(f.read(SNIFF_BYTES))
        if not_text is not None:
            print(f"error: {path}: {not_text}", file=sys.stderr)
            print("result: ERRORS found")
            return 1
        reader = IncrementalReader(path)
        report = reader.poll()
        torn = torn_tail(path, report.offset, reader.line_no)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("result: ERRORS found")
        return 1
    except OSError as exc:
        print(f"error: {path}: cannot read ({exc.strerror})", file=sys.stderr)
        return 2

    frame = report.frame
    errors = 0
    print(f"file: {path}")
    if not report.columns_in_file:
        print("columns: none (empty file)")
    else:
        missing = [c for c in COLUMN_NAMES if c not in report.columns_in_file]
        known = [c for c in report.columns_in_file if c in COLUMN_NAMES]
        order = "canonical order" if known == [c for c in COLUMN_NAMES if c in known] else "reordered"
        note = f"; missing, filled with defaults: {', '.join(missing)}" if missing else ""
        print(f"columns: {len(report.columns_in_file)} ({order}{note})")
        if report.extra_columns:
            print(
                f"warning: column(s) this version does not know, ignored: {', '.join(report.extra_columns)}"
            )
    print(f"rows: {len(frame):,}")

    print(f"malformed lines: {report.malformed_count:,}")
    for line_no, reason in report.malformed[:SHOW_MALFORMED]:
        print(f"  line {line_no}: {reason}")
    if report.malformed_count > SHOW_MALFORMED:
        print(f"  ... and {report.malformed_count - SHOW_MALFORMED:,} more")
    errors += report.malformed_count > 0
    if torn is not None:
        print(f"error: {torn}")
        errors += 1

    unknown, wrong, unknown_rows = _model_problems(frame, catalog)
    print(
        f"unknown models (not in the catalog, unpriced): {len(unknown)}"
        + (f" ({unknown_rows:,} rows)" if unknown else "")
    )
    for line in unknown:
        print(f"  {line}")
    print(f"models under the wrong provider: {len(wrong)}")
    for line in wrong:
        print(f"  {line}")
    errors += bool(wrong)

    dup = frame["call_id"].duplicated()
    n_dup = int(dup.sum())
    print(f"duplicate call_ids: {n_dup:,}")
    if n_dup:
        examples = frame.loc[dup, "call_id"].drop_duplicates().head(SHOW_EXAMPLES).tolist()
        print(f"  e.g. {', '.join(examples)}")
        errors += 1

    invalid = _vocabulary_problems(frame)
    print(f"invalid values: {len(invalid)}")
    for line in invalid:
        print(f"  {line}")
    errors += bool(invalid)

    if len(frame):
        ts = frame["timestamp"]
        first, last = (format_timestamp(t.to_pydatetime()) for t in (ts.min(), ts.max()))
        print(f"date range: {first} .. {last}")
    else:
        print("date range: none (no rows)")
    cost = frame["cost_usd"]
    unpriced = int(cost.isna().sum())
    print(f"total cost: ${float(cost.sum()):,.4f} ({unpriced:,} unpriced calls)")
    print(
        f"cache tokens: {int(frame['cached_tokens'].sum()):,} read, "
        f"{int(frame['cache_creation_tokens'].sum()):,} written (inside input tokens, priced at the cache rates)"
    )

    _print_generation(path)
    print(f"result: {'ERRORS found' if errors else 'OK'}")
    return 1 if errors else 0
