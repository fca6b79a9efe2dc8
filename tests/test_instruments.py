"""Instrument master: cash-row filtering, resolution, daily cache, stale fallback."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chalicelib.errors import DependencyUnavailable, UnknownSymbol
from chalicelib.instruments import InstrumentIndex, InstrumentMaster

HEADER = "EXCH,SEGMENT,SECURITY_ID,INSTRUMENT_NAME,EXPIRY_CODE,TRADING_SYMBOL,LOT_UNITS,CUSTOM_SYMBOL,EXPIRY_DATE,STRIKE_PRICE,OPTION_TYPE,TICK_SIZE,EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SERIES,SYMBOL_NAME"
ROWS = [
    "NSE,E,3045,EQUITY,,SBIN,1,SBIN,,,,0.05,,ES,EQ,STATE BANK OF INDIA",
    "NSE,E,999001,EQUITY,,SBIN,1,SBIN,,,,0.05,,ES,BE,STATE BANK OF INDIA",
    "BSE,E,500112,EQUITY,,SBIN,1,SBIN,,,,0.05,,ES,A,STATE BANK OF INDIA",
    "NSE,D,51011,FUTSTK,,SBIN-Dec2026-FUT,750,SBIN FUT,2026-12-29,,,0.05,M,FUT,,SBIN",
    "NSE,E,11915,EQUITY,,YESBANK,1,YESBANK,,,,0.01,,ES,EQ,YES BANK",
    "NSE,E,2031,EQUITY,,M&M,1,M&M,,,,,,ES,EQ,MAHINDRA",
]
CSV = "\n".join([HEADER, *ROWS]) + "\n"
DAY = date(2026, 11, 25)


def test_cash_rows_only_and_eq_series_on_nse():
    index = InstrumentIndex.from_csv(CSV)
    assert index.resolve("NSE", "SBIN").security_id == "3045"  # not the BE row
    assert index.resolve("BSE", "SBIN").security_id == "500112"
    assert len(index) == 4  # SBIN NSE/BSE, YESBANK, M&M; the BE and FUT rows are ignored


def test_tick_size_from_the_master_with_a_default():
    index = InstrumentIndex.from_csv(CSV)
    assert index.resolve("NSE", "YESBANK").tick_size == Decimal("0.01")
    assert index.resolve("NSE", "M&M").tick_size == Decimal("0.05")  # blank → 0.05


def test_unknown_symbol_names_it():
    with pytest.raises(UnknownSymbol) as caught:
        InstrumentIndex.from_csv(CSV).resolve("BSE", "YESBANK")
    assert caught.value.status_code == 400
    assert caught.value.detail[0].field == "symbol" and "YESBANK" in caught.value.detail[0].message


@pytest.mark.parametrize("text", ["", '{"message":"Source not present or invalid","success":false}', HEADER + "\n"])
def test_unusable_masters_are_refused(text):
    with pytest.raises(ValueError):
        InstrumentIndex.from_csv(text)


class CountingDownload:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_downloaded_once_per_day_then_from_memory(tmp_path):
    download = CountingDownload(CSV)
    master = InstrumentMaster(download, str(tmp_path))
    assert master.resolve("NSE", "SBIN", DAY).security_id == "3045"
    assert master.resolve("BSE", "SBIN", DAY).security_id == "500112"
    assert download.calls == 1
    assert (tmp_path / "indstocks-equity-2026-11-25.csv").read_text() == CSV


def test_a_new_process_reads_the_day_from_tmp(tmp_path):
    InstrumentMaster(CountingDownload(CSV), str(tmp_path)).resolve("NSE", "SBIN", DAY)
    second = CountingDownload()
    assert InstrumentMaster(second, str(tmp_path)).resolve("NSE", "SBIN", DAY).security_id == "3045"
    assert second.calls == 0


def test_next_day_downloads_again(tmp_path):
    download = CountingDownload(CSV, CSV.replace("3045", "3046"))
    master = InstrumentMaster(download, str(tmp_path))
    master.resolve("NSE", "SBIN", DAY)
    assert master.resolve("NSE", "SBIN", date(2026, 11, 26)).security_id == "3046"
    assert download.calls == 2
    assert [p.name for p in tmp_path.glob("*.csv")] == ["indstocks-equity-2026-11-26.csv"]


def test_failed_refresh_falls_back_to_the_previous_copy(tmp_path):
    InstrumentMaster(CountingDownload(CSV), str(tmp_path)).resolve("NSE", "SBIN", DAY)
    failing = CountingDownload(DependencyUnavailable("down"))
    master = InstrumentMaster(failing, str(tmp_path))
    assert master.resolve("NSE", "SBIN", date(2026, 11, 26)).security_id == "3045"


def test_no_copy_at_all_is_a_clear_error(tmp_path):
    master = InstrumentMaster(CountingDownload(DependencyUnavailable("down")), str(tmp_path))
    with pytest.raises(DependencyUnavailable):
        master.resolve("NSE", "SBIN", DAY)
    master = InstrumentMaster(CountingDownload("garbage"), str(tmp_path))
    with pytest.raises(DependencyUnavailable):
        master.resolve("NSE", "SBIN", DAY)


# --- the shared copy in the state table (moto DynamoDB) -------------------------------------


@pytest.fixture
def shared(dynamodb):
    import boto3

    from chalicelib.state import StateTable
    from tests.conftest import STATE_TABLE

    return StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE)


def test_a_download_is_shared_and_a_cold_instance_reads_it_instead_of_downloading(shared, tmp_path):
    InstrumentMaster(CountingDownload(CSV), str(tmp_path / "first"), shared=shared).resolve("NSE", "SBIN", DAY)
    cold = CountingDownload()  # would fail: nothing to answer
    master = InstrumentMaster(cold, str(tmp_path / "cold"), shared=shared)
    assert master.resolve("NSE", "SBIN", DAY).security_id == "3045"
    assert master.resolve("BSE", "SBIN", DAY).security_id == "500112"
    assert master.resolve("NSE", "YESBANK", DAY).tick_size == Decimal("0.01")
    assert master.resolve("NSE", "M&M", DAY).tick_size == Decimal("0.05")
    with pytest.raises(UnknownSymbol):
        master.resolve("BSE", "YESBANK", DAY)
    assert cold.calls == 0


def test_the_shared_copy_is_the_index_compressed_with_an_expiry(shared, tmp_path):
    import boto3

    from tests.conftest import STATE_TABLE

    InstrumentMaster(CountingDownload(CSV), str(tmp_path), shared=shared, clock=lambda: 1_800_000_000.0).refresh(DAY)
    item = boto3.client("dynamodb").get_item(
        TableName=STATE_TABLE, Key={"pk": {"S": "blob#instruments-equity#2026-11-25"}})["Item"]
    assert int(item["expires_at"]["N"]) == 1_800_000_000 + 4 * 86400
    assert len(InstrumentIndex.from_compact(item["body"]["B"])) == 4


def test_the_next_day_does_not_use_the_previous_days_shared_copy_while_the_download_works(shared, tmp_path):
    InstrumentMaster(CountingDownload(CSV), str(tmp_path / "a"), shared=shared).resolve("NSE", "SBIN", DAY)
    download = CountingDownload(CSV.replace("3045", "3046"))
    master = InstrumentMaster(download, str(tmp_path / "b"), shared=shared)
    assert master.resolve("NSE", "SBIN", date(2026, 11, 26)).security_id == "3046" and download.calls == 1


def test_an_outage_on_a_cold_instance_falls_back_to_the_latest_shared_copy(shared, tmp_path):
    friday, monday = date(2026, 11, 27), date(2026, 11, 30)
    InstrumentMaster(CountingDownload(CSV), str(tmp_path / "friday"), shared=shared).resolve("NSE", "SBIN", friday)
    master = InstrumentMaster(CountingDownload(DependencyUnavailable("down")), str(tmp_path / "monday"), shared=shared)
    assert master.resolve("NSE", "SBIN", monday).security_id == "3045"


def test_a_broken_shared_store_never_stops_the_download(tmp_path):
    class Broken:
        def get_blob(self, name):
            raise DependencyUnavailable("the relay's state table is unavailable", cause="ResourceNotFoundException")

        def put_blob(self, name, body, expires_at):
            raise DependencyUnavailable("the relay's state table is unavailable", cause="ResourceNotFoundException")

    download = CountingDownload(CSV)
    master = InstrumentMaster(download, str(tmp_path), shared=Broken())
    assert master.resolve("NSE", "SBIN", DAY).security_id == "3045" and download.calls == 1


def test_a_damaged_or_oversized_index_is_not_used(shared, tmp_path, monkeypatch):
    from chalicelib import instruments

    shared.put_blob("instruments-equity#2026-11-25", b"not zlib at all", 2_000_000_000)
    download = CountingDownload(CSV, CSV)
    assert InstrumentMaster(download, str(tmp_path / "a"), shared=shared).resolve("NSE", "SBIN", DAY).security_id == "3045"
    assert download.calls == 1  # the damaged copy was ignored, then replaced by the download's
    assert len(InstrumentIndex.from_compact(shared.get_blob("instruments-equity#2026-11-25"))) == 4

    monkeypatch.setattr(instruments, "SHARED_MAX_BYTES", 10)
    InstrumentMaster(download, str(tmp_path / "b"), shared=shared).refresh(date(2026, 11, 26))
    assert shared.get_blob("instruments-equity#2026-11-26") is None  # too large to share: not written


def test_a_real_sized_index_fits_one_item():
    # ~9 000 cash rows (NSE EQ and BSE groups): the shared item must stay far below 400 KB.
    rows = [f"{'NSE' if n % 3 else 'BSE'},E,{100000 + n},EQUITY,,SYM{n:05d},1,SYM{n:05d},,,,0.05,,ES,"
            f"{'EQ' if n % 3 else 'A'},COMPANY NUMBER {n} LIMITED" for n in range(9000)]
    body = InstrumentIndex.from_csv("\n".join([HEADER, *rows]) + "\n").to_compact()
    assert len(body) < 150_000
