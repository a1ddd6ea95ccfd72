"""The durable, append-only CSV store of call records.

Guarantees (see specs/data-schema.md):

* Writers append whole lines only, under an exclusive ``flock`` on the data file, and ``fsync`` once
  per batch, after releasing the lock (concurrent writers' fsyncs overlap) and before returning; the
  header is written once, by whoever finds the file empty.
* A writer that died mid-batch leaves at most one incomplete last line. Readers never take it for
  data (they consume up to the last newline); the next writer truncates it before appending.
* ``IncrementalReader`` remembers its byte offset and returns only new complete rows; it notices a
  truncated or replaced file (a new generation run) and starts over. Malformed lines are skipped,
  counted and reported with their line numbers.
* Files in the seed's 19-column shape and files whose columns come in another order are read; missing
  extension columns get their defaults.

Parsing is pyarrow's multithreaded CSV reader; a slow, line-by-line path runs only when a chunk has
malformed lines, to name them.

The store is three modules: :mod:`metering.store_format` (header, types, ``format_csv``),
:mod:`metering.store_append` (``CallStore``: lock, repair, append, reset) and :mod:`metering.store_read`
(parsing, ``IncrementalReader``, ``read_calls``). This module is the public facade: import from here.
"""

from metering.schema import EXTENSION_COLUMNS
from metering.store_append import CallStore
from metering.store_format import (
    COST_DECIMALS,
    StoreError,
    format_csv,
    header_line,
    numpy_to_arrow,
    parse_header,
    records_to_columns,
)
from metering.store_read import (
    IncrementalReader,
    ReadResult,
    concat_frames,
    empty_frame,
    last_timestamp,
    parse_chunk,
    read_calls,
    read_calls_report,
)

__all__ = [
    "COST_DECIMALS",
    "CallStore",
    "EXTENSION_COLUMNS",
    "IncrementalReader",
    "ReadResult",
    "StoreError",
    "concat_frames",
    "empty_frame",
    "format_csv",
    "header_line",
    "last_timestamp",
    "numpy_to_arrow",
    "parse_chunk",
    "parse_header",
    "read_calls",
    "read_calls_report",
    "records_to_columns",
]
