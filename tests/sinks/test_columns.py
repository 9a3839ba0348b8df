"""Row values against column types: the checks alone, then against what chdb does unchecked."""

from __future__ import annotations

import math

import pytest

from schemas import Codec
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.columns import RowChecks, column_types, value_check
from sinks.clickhouse.failures import chdb_error_code, engine_error
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.rows import TABLES, rows_of
from sinks.exceptions import AnalyticsUnavailableError, QueryError, SinkError, ValuesRefusedError
from tests.sinks.samples import sample_events_per_type

CODEC = Codec()


@pytest.mark.parametrize(
    ("type_name", "fits", "refused"),
    [
        ("UInt8", [0, 255, True], [-1, 256, 1.0, "1", None]),
        ("UInt16", [0, 65_535], [-1, 65_536]),
        ("UInt32", [0, 2**32 - 1], [-5, 2**32]),
        ("UInt64", [0, 2**64 - 1], [-1, 2**64]),
        ("Int32", [-(2**31), 2**31 - 1], [-(2**31) - 1, 2**31]),
        ("Int64", [-(2**63), 2**63 - 1], [2**63, 0.5]),
        ("DateTime", [0, 1_700_000_000, 2**32 - 1], [-1, 2**32, None]),
        ("Float64", [0, -1.5, 1e308, 3], [math.nan, math.inf, -math.inf, "0.5", None]),
        ("Float32", [3.4e38, -3.4e38], [3.5e38, math.nan]),
        ("String", ["", "héllo\x00"], [None, b"bytes", 1]),
        ("Nullable(Int64)", [None, -3], [2**63, "x"]),
        ("Array(String)", [[], ["a", "b"], ("a",)], [None, "ab", ["a", None]]),
        ("Array(Float64)", [[1.0, 2]], [[1.0, math.nan]]),
        ("LowCardinality(String)", ["", "hq-north"], [None, b"bytes", 1]),
    ],
)
def test_a_value_fits_its_column_type_or_says_why_not(
    type_name: str, fits: list[object], refused: list[object]
) -> None:
    check = value_check(type_name)
    assert [check(value) for value in fits] == [None] * len(fits)
    for value in refused:
        assert check(value), f"{value!r} passed as {type_name}"


def test_a_refusal_names_the_range_or_the_kind_of_value() -> None:
    assert value_check("UInt32")(-5) == "-5 is outside UInt32 [0, 4294967295]"
    assert value_check("UInt8")(None) == "NULL where UInt8 needs an integer"
    assert value_check("Array(Float64)")([1.0, math.inf]) == (
        "item 1: inf does not fit Float64 (finite numbers only)"
    )


def test_a_column_type_without_a_check_fails_rather_than_passing_anything() -> None:
    with pytest.raises(SinkError, match="no value check for column type Decimal"):
        value_check("Decimal(10, 2)")


def test_row_checks_need_every_column_the_rows_write() -> None:
    types = {table: dict.fromkeys(columns, "String") for table, columns in TABLES.items()}
    del types["verdicts"]["response_ms"]
    with pytest.raises(SinkError, match="verdicts lacks columns response_ms: apply the"):
        RowChecks.from_types(types)


def test_a_row_refusal_names_its_column() -> None:
    types = {table: dict.fromkeys(columns, "String") for table, columns in TABLES.items()}
    types["dead_letters"]["source_offset"] = "Int64"
    checks = RowChecks.from_types(types)
    row = ("id", "t", "ms", "topic", "0", 2**63, "E", "r", "2", "w")
    assert checks.refusal("dead_letters", row) == (
        f"source_offset: {2**63} is outside Int64 [{-(2**63)}, {2**63 - 1}]"
    )
    assert checks.refusal("dead_letters", row[:-1]) == "9 values for 10 columns"


def test_the_checks_come_from_the_tables_and_pass_every_sample_event(
    backend: AnalyticsBackend,
) -> None:
    """No false refusals: every event the system itself sends fits, on both engines."""
    apply_migrations(backend)
    types = column_types(backend, TABLES)
    assert types["detection_frames"]["image_width"] == "UInt32"
    checks = RowChecks.from_backend(backend)
    for event in sample_events_per_type(count=40):
        name = type(event).__name__
        record = CODEC.decode_record(CODEC.encode(event), name, logical_types=False)
        for table, row in rows_of(name, record):
            assert checks.refusal(table, row) is None, (table, row)


def test_tables_not_migrated_yet_are_an_error_naming_the_command(
    chdb_backend: AnalyticsBackend,
) -> None:
    with pytest.raises(SinkError, match="leakguard analytics migrate"):
        RowChecks.from_backend(chdb_backend)


def test_unchecked_chdb_wraps_a_negative_width_which_is_why_rows_are_checked(
    chdb_backend: AnalyticsBackend,
) -> None:
    """The known answer behind the checks: chdb stores -5 in a UInt32 as 2**32 - 5."""
    apply_migrations(chdb_backend)
    row = ("e", 1, 1000, "hq", "1", "f", "m", 1.0, -5, 480, 0, 0)
    chdb_backend.insert("detection_frames", TABLES["detection_frames"], [row])
    stored = chdb_backend.query("SELECT image_width FROM detection_frames").rows
    assert stored == [(2**32 - 5,)]
    assert RowChecks.from_backend(chdb_backend).refusal("detection_frames", row) == (
        "image_width: -5 is outside UInt32 [0, 4294967295]"
    )


@pytest.mark.parametrize(
    ("code", "text", "error"),
    [
        (243, "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space.", "full"),
        (
            75,
            "Code: 75. DB::Exception: Cannot write to file /x/data.bin, errno: 28, "
            "strerror: No space left on device",
            "full",
        ),
        (None, "No space left on device", "full"),
        (209, "Code: 209. Socket timeout", "busy"),
        (252, "Code: 252. DB::Exception: Too many parts (300). Merges are slow", "busy"),
        (252, "Code: 252. DB::Exception: Too many partitions for single INSERT block", "rows"),
        (53, "Code: 53. Type mismatch in VALUES section. Column a: argument out of range", "rows"),
        (321, "Code: 321. DB::Exception: Value out of range", "rows"),
        (60, "Code: 60. DB::Exception: Table x.t does not exist. (UNKNOWN_TABLE)", "query"),
        (None, "something else entirely", "query"),
    ],
)
def test_engine_errors_mean_wait_dead_letter_or_stop(
    code: int | None, text: str, error: str
) -> None:
    raised = engine_error(code, text, sql="INSERT INTO t (a) VALUES")
    kinds = {
        "full": AnalyticsUnavailableError,
        "busy": AnalyticsUnavailableError,
        "rows": ValuesRefusedError,
        "query": QueryError,
    }
    assert type(raised) is kinds[error]
    if error == "full":
        assert "out of disk space" in str(raised)


def test_chdb_names_the_clickhouse_code_in_its_text() -> None:
    assert chdb_error_code("Code: 243. DB::Exception: Cannot reserve 1.00 MiB") == 243
    assert chdb_error_code("no code here") is None
