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
