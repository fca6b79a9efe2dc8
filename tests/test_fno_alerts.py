"""Futures and options through the relay's one alert path: the alert model, the masters and
their shared copy, orders, relative options, lots, ticks and freeze limits. Model tests first,
then end to end through chalice.test.Client / the relay against moto and the simulator."""

from __future__ import annotations

import pytest

from chalicelib.alerts import Exchange, validate_alert
from chalicelib.errors import AlertRejected
from chalicelib.fno import ContinuousFuture, ExactContract, MonthFuture, RelativeOption
from chalicelib.ledger import ledger_key


def problems(**fields):
    with pytest.raises(AlertRejected) as caught:
        validate_alert({"action": "buy", **fields})
    return {problem.field: problem.message for problem in caught.value.detail}


@pytest.mark.parametrize("symbol, exchange, kind, venue", [
    ("NIFTY1!", None, ContinuousFuture, Exchange.NSE),
    ("NSE:BANKNIFTY2!", None, ContinuousFuture, Exchange.NSE),
    ("BSE:SENSEX1!", None, ContinuousFuture, Exchange.BSE),
    ("NIFTY260106C24000", "NFO", ExactContract, Exchange.NSE),
    ("NIFTY27JAN26FUT", "NSE_DL", ExactContract, Exchange.NSE),
    ("VEDL24APR25292.5CE", "nfo", ExactContract, Exchange.NSE),
    ("NSE:TATAMOTORSM2026", None, MonthFuture, Exchange.NSE),
    ("SENSEX1!", "BFO", ContinuousFuture, Exchange.BSE),
])
def test_derivative_symbol_forms_are_alerts(symbol, exchange, kind, venue):
    alert = validate_alert({"symbol": symbol, "action": "buy", "lots": 1, **({"exchange": exchange} if exchange else {})})
    assert isinstance(alert.reading(), kind) and alert.resolved_exchange is venue


def test_relative_option_fields_and_openalgo_aliases():
    alert = validate_alert({"underlying": "NIFTY", "option_type": "pe", "offset": "itm2", "expiry_date": "06JAN26",
                            "exchange": "NSE_INDEX", "action": "sell", "quantity": 130})
    reading = alert.reading()
    assert isinstance(reading, RelativeOption) and str(reading.offset) == "ITM2"
    assert alert.summary()["symbol"] == "NIFTY ITM2 PE 06JAN26"


@pytest.mark.parametrize("fields, field, words", [
    ({"symbol": "NIFTY1!", "quantity": 65, "product": "CNC"}, "product", "MARGIN"),
    ({"symbol": "NIFTY1!", "quantity": 65, "lots": 1}, "lots", "not both"),
    ({"symbol": "SBIN", "lots": 2}, "lots", "futures and options only"),
    ({"symbol": "NIFTY1!"}, "quantity", "is required"),
    ({"quantity": 65}, "symbol", "is required"),
    ({"symbol": "NIFTY1!", "offset": "ATM", "lots": 1}, "underlying", "leave those out"),
    ({"underlying": "NIFTY", "offset": "ATM", "lots": 1}, "underlying", "option_type, expiry"),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM9X", "expiry": "weekly", "lots": 1}, "offset", "OTM"),
    ({"underlying": "NIFTY", "option_type": "XX", "offset": "ATM", "expiry": "weekly", "lots": 1}, "option_type", "CE"),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "soon", "lots": 1}, "expiry", "weekly"),
    ({"symbol": "NFO:NIFTY", "quantity": 65}, "symbol", "index"),
    ({"symbol": "NIFTY", "exchange": "NFO", "quantity": 65}, "symbol", "index"),
    ({"symbol": "BSE:SENSEX1!", "quantity": 20, "order_type": "SL-M", "trigger_price": 80000}, "order_type", "NSE-only"),
    ({"symbol": "SENSEX1!", "exchange": "BFO", "quantity": 20, "order_type": "SL", "price": 1, "trigger_price": 1},
     "order_type", "NSE-only"),
    ({"symbol": "MCX:GOLD1!", "quantity": 1}, "symbol", "NFO"),
])
def test_derivative_alerts_refused_naming_the_field(fields, field, words):
    found = problems(**fields)
    assert field in found and words in found[field], found


def test_cash_alert_keys_are_unchanged_by_the_new_fields():
    # The hash of an alert without alert_id, as released before F&O (a replay across the upgrade).
    alert = validate_alert({"symbol": "NSE:SBIN", "action": "buy", "quantity": 3, "order_type": "LIMIT", "price": 800})
    assert ledger_key(alert) == "sha256:ed97ead5c71fb195e2285352096942b39d2d2db1697940340d5681a816529c73"


# --- end to end: chalice.test.Client / the relay, moto, the simulator over HTTP ---------------

import json  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import boto3  # noqa: E402

from chalicelib import services  # noqa: E402
from chalicelib.config import IST  # noqa: E402
from chalicelib.relay import IncomingAlert  # noqa: E402
from local.openapi import request_errors  # noqa: E402
from tests.conftest import ORDERS_TABLE, SEEDED_SECRET, SEEDED_TOKEN, STATE_TABLE  # noqa: E402

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@pytest.fixture
def fno(stack):
    # A NIFTY future is worth more than the default MAX_ORDER_VALUE (₹10 lakh): raise it here.
    settings = stack.settings.model_copy(update={"max_order_value": Decimal(10) ** 9})
    services.install(services.build(settings))
    stack.settings = settings
    return stack


def today(sim) -> date:
    return sim.today


def live(sim, underlying, *, option=False, exchange="NSE", after=None):
    after = after or today(sim)
    found = [c for c in sim.fno_contracts if c.underlying == underlying and c.exchange == exchange
             and c.is_option == option and c.expiry > after]
    return sorted(found, key=lambda c: (c.expiry, c.strike or 0, c.option_type or ""))


def futures(sim, underlying, exchange="NSE", after=None):
    return live(sim, underlying, exchange=exchange, after=after)


def dmy(day: date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def fno_downloads(sim):
    return [r for r in sim.requests("/market/instruments") if r.query.get("source") == "fno"]


def the_write(stack):
    [write] = stack.simulator.order_writes()
    assert request_errors(write.method, write.path, write.json) == []
    return write


def alert(**fields):
    return {"secret": SEEDED_SECRET, "action": "buy", "alert_id": f"f-{time.time_ns()}", **fields}


def placed(response):
    assert response.status_code == 200 and response.json_body["status"] == "placed", response.json_body
    return response.json_body


def test_continuous_future_and_nfo_exchange_with_lots(fno):
    sim = fno.simulator
    near, following = futures(sim, "NIFTY")[:2]
    body = placed(fno.post(alert(symbol="NIFTY1!", exchange="NFO", lots=2, product="NRML")))
    write = the_write(fno)
    assert write.json | {} == {**write.json, "security_id": near.security_id, "segment": "DERIVATIVE", "exchange": "NSE",
                               "algo_id": "99999", "product": "MARGIN", "qty": 2 * near.lot}
    contract = body["contract"]
    assert (contract["security_id"], contract["expiry"], contract["instrument"], contract["qty_units"]) == \
        (near.security_id, near.expiry.isoformat(), "future", 2 * near.lot)
    placed(fno.post(alert(symbol="NSE:NIFTY2!", quantity=near.lot)))
    assert sim.order_writes()[-1].json["security_id"] == following.security_id
    # The ledger item names the contract.
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": f"id:{body['remarks'].split(':')[1]}"}})
    assert json.loads(item["Item"]["contract"]["S"])["contract"]["security_id"] == near.security_id


def test_each_symbol_form_resolves_to_its_contract(fno):
    sim = fno.simulator
    fut = futures(sim, "NIFTY")[0]
    option = next(c for c in live(sim, "NIFTY", option=True) if c.option_type == "CE")
    put = next(c for c in live(sim, "NIFTY", option=True) if c.option_type == "PE")
    sensex = futures(sim, "SENSEX", exchange="BSE")[0]
    stock_fut = next(c for c in sim.fno_contracts if c.instrument == "FUTSTK" and c.exchange == "NSE"
                     and c.expiry > today(sim))
    decimal_option = next((c for c in sim.fno_contracts if c.instrument == "OPTSTK" and c.expiry > today(sim)
                           and c.strike is not None and c.strike != c.strike.to_integral_value()), None)
    strike = f"{option.strike.normalize():f}"
    forms = [
        ({"symbol": f"NIFTY{dmy(fut.expiry)}FUT", "exchange": "NFO"}, fut),
        ({"symbol": f"NIFTY{option.expiry:%y%m%d}C{strike}"}, option),
        ({"symbol": f"NIFTY{dmy(put.expiry)}{put.strike.normalize():f}PE", "exchange": "NSE"}, put),
        ({"symbol": "BSE:SENSEX1!"}, sensex),
        ({"symbol": f"NSE:{stock_fut.underlying}{'FGHJKMNQUVXZ'[stock_fut.expiry.month - 1]}{stock_fut.expiry.year}"},
         stock_fut),
    ]
    if decimal_option is not None:
        forms.append(({"symbol": f"{decimal_option.underlying}{dmy(decimal_option.expiry)}"
                                 f"{decimal_option.strike.normalize():f}{decimal_option.option_type}",
                       "exchange": "NFO" if decimal_option.exchange == "NSE" else "BFO"}, decimal_option))
    for fields, contract in forms:
        body = placed(fno.post(alert(**fields, lots=1, price=1)))
        write = sim.order_writes()[-1]
        assert request_errors(write.method, write.path, write.json) == []
        assert (write.json["security_id"], write.json["exchange"], write.json["qty"]) == \
            (contract.security_id, contract.exchange, contract.lot), fields
        assert write.json["algo_id"] == ("99999" if contract.exchange == "NSE" else "9" * 16)
        assert body["contract"]["security_id"] == contract.security_id


def test_refusals_name_what_is_wrong_and_what_is_valid(fno):
    sim = fno.simulator
    fut = futures(sim, "NIFTY")[0]
    option = next(c for c in live(sim, "NIFTY", option=True) if c.option_type == "CE")
    expired = next(c for c in sim.fno_contracts if c.underlying == "NIFTY" and c.expiry < today(sim))
    expired_symbol = f"NIFTY{dmy(expired.expiry)}" + (
        f"{expired.strike.normalize():f}{expired.option_type}" if expired.is_option else "FUT")
    cases = [
        ({"symbol": expired_symbol}, "symbol", "expired"),
        ({"symbol": f"NIFTY{option.expiry:%y%m%d}C{option.strike + 7}"}, "symbol", "nearest listed"),
        ({"symbol": "NIFTY", "exchange": "NFO"}, "symbol", "NIFTY1!"),
        ({"symbol": "NIFTY1!", "quantity": fut.lot + 1, "lots": None}, "quantity", f"{fut.lot} units"),
        ({"symbol": "NIFTY1!", "product": "CNC"}, "product", "MARGIN"),
        ({"symbol": "SENSEX1!", "order_type": "SL-M", "trigger_price": 90000}, "order_type", "NSE-only"),
    ]
    for fields, field, words in cases:
        response = fno.post({k: v for k, v in alert(**{"lots": 1, **fields}).items() if v is not None})
        assert response.status_code == 400, (fields, response.json_body)
        found = {d["field"]: d["message"] for d in response.json_body["detail"]}
        assert field in found and words in found[field], (fields, found)
    assert sim.order_writes() == []


def test_limit_prices_round_in_the_traders_favour_and_the_answer_shows_it(fno):
    sim = fno.simulator
    option = next(c for c in live(sim, "NIFTY", option=True) if c.option_type == "CE")
    symbol = f"NIFTY{option.expiry:%y%m%d}C{option.strike.normalize():f}"
    buy = placed(fno.post(alert(symbol=symbol, lots=1, order_type="LIMIT", price="100.03")))
    sell = placed(fno.post(alert(symbol=symbol, lots=1, order_type="LIMIT", price="100.03", action="sell")))
    assert [w.json["limit_price"] for w in sim.order_writes()] == [100.0, 100.05]
    assert buy["rounding"]["price"] == {"asked": "100.03", "sent": "100.00", "tick": str(option.tick)}
    assert sell["rounding"]["price"]["sent"] == "100.05"


def chain_reads(sim):
    return sim.requests("/market/option-chain")


@pytest.mark.parametrize("option_type", ["CE", "PE"])
@pytest.mark.parametrize("offset, steps", [("ATM", 0), ("ITM2", -2), ("OTM1", 1)])
def test_relative_options_pick_the_strike_from_one_chain_read(fno, option_type, offset, steps):
    sim = fno.simulator
    weekly = live(sim, "NIFTY", option=True)[0].expiry
    strikes = sorted({c.strike for c in live(sim, "NIFTY", option=True) if c.expiry == weekly})
    middle = len(strikes) // 2
    sim.set_spot("NIFTY", strikes[middle] + Decimal("3.5"))  # nearest: strikes[middle]
    if option_type == "PE":
        steps = -steps  # in the money is above the spot for a put
    expected = sim.find_contract("NIFTY", weekly, strikes[middle + steps], option_type)
    body = placed(fno.post(alert(underlying="NIFTY", option_type=option_type, offset=offset, expiry="weekly",
                                 exchange="NSE_INDEX", lots=1)))
    assert len(chain_reads(sim)) == 1
    assert the_write(fno).json["security_id"] == expected.security_id
    contract = body["contract"]
    assert (contract["strike"], contract["option_type"], contract["offset"], Decimal(contract["spot"])) == \
        (f"{expected.strike.normalize():f}", option_type, offset, strikes[middle] + Decimal("3.5"))
    assert contract["chain_read_at"] and contract["expiry"] == weekly.isoformat()


def test_a_replayed_relative_alert_stays_a_duplicate_after_the_spot_moved(fno):
    sim = fno.simulator
    message = alert(underlying="NIFTY", option_type="CE", offset="ATM", expiry_date=dmy(live(sim, "NIFTY", option=True)[0].expiry),
                    lots=1)
    first = placed(fno.post(message))
    sim.set_spot("NIFTY", Decimal(first["contract"]["spot"]) + 500)
    again = fno.post(message)
    assert again.status_code == 200 and again.json_body["status"] == "duplicate"
    assert again.json_body["order_id"] == first["order_id"] and "contract" not in again.json_body
    assert len(sim.order_writes()) == 1


def test_a_cash_alert_still_works_and_never_loads_the_fno_master(fno):
    placed(fno.post(fno.alert()))
    assert fno_downloads(fno.simulator) == [] and chain_reads(fno.simulator) == []
    assert services.get().relay.derivatives.master._index is None
    assert the_write(fno).json["segment"] == "EQUITY"


def test_a_cold_instance_reads_the_shared_copy_the_premarket_check_wrote(fno, tmp_path):
    event = fno.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=[])
    report = fno.client.lambda_.invoke("premarket_token_check", event).payload
    assert report["fno_ok"] is True and "F&O contracts" in report["fno"]
    assert len(fno_downloads(fno.simulator)) == 1
    day = today(fno.simulator).isoformat()
    shared = boto3.client("dynamodb").get_item(TableName=STATE_TABLE, Key={"pk": {"S": f"blob#instruments-fno#{day}#0"}})
    assert len(shared["Item"]["body"]["B"]) <= 350_000
    cold = fno.settings.model_copy(update={"instruments_cache_dir": str(tmp_path / "cold")})
    services.install(services.build(cold))
    placed(fno.post(alert(symbol="NIFTY1!", lots=1, price="24500")))  # valued at {{close}}: no quote read
    assert len(fno_downloads(fno.simulator)) == 1  # no download inside the alert
    assert services.get().relay.derivatives.master.loaded_from == "shared"


def test_a_cold_instance_after_the_check_resolves_a_relative_option_with_one_broker_read(fno, tmp_path):
    event = fno.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=[])
    assert fno.client.lambda_.invoke("premarket_token_check", event).payload["fno_ok"] is True
    assert [r.query["source"] for r in fno.simulator.requests("/market/instruments")] == ["equity", "fno", "index"]
    services.install(services.build(fno.settings.model_copy(update={"instruments_cache_dir": str(tmp_path / "cold")})))
    fno.simulator.reset()
    placed(fno.post(alert(underlying="NIFTY", option_type="PE", offset="ATM", expiry="weekly", exchange="NSE_INDEX",
                          lots=1)))
    writes = fno.simulator.order_writes()
    assert [r.path for r in fno.simulator.requests() if r not in writes] == ["/market/option-chain"]
    assert len(writes) == 1


@pytest.mark.parametrize("minute, which", [(29, 0), (31, 1)])
def test_the_continuous_future_rolls_at_1530_ist_on_its_expiry_day(fno, minute, which):
    sim = fno.simulator
    expiring = futures(sim, "NIFTY")[0]
    sim.today = expiring.expiry
    expected = futures(sim, "NIFTY", after=expiring.expiry - timedelta(days=1))[which]
    now = datetime.combine(expiring.expiry, datetime.min.time(), IST).replace(hour=15, minute=minute).timestamp()
    raw = json.dumps(alert(symbol="NIFTY1!", lots=1)).encode()
    answer = services.get().relay.handle_alert(IncomingAlert(raw, {}), now=now)
    assert answer.status_code == 200 and answer.body["status"] == "placed", answer.body
    assert the_write(fno).json["security_id"] == expected.security_id


def test_a_market_future_without_a_price_is_valued_from_one_nfo_quote(fno):
    body = placed(fno.post(alert(symbol="NIFTY1!", lots=1)))
    write = the_write(fno)
    quotes = fno.simulator.requests("/market/quotes/ltp")
    assert [q.query.get("scrip-codes") for q in quotes] == [f"NFO_{write.json['security_id']}"]
    assert body["order_id"].startswith("DRV-")


def test_an_account_without_fno_activation_is_a_422_with_the_brokers_message(fno):
    fno.simulator.fno_enabled = False
    response = fno.post(alert(symbol="NIFTY1!", lots=1, price="24500"))
    assert response.status_code == 422 and response.json_body["status"] == "rejected", response.json_body
    assert "not activated" in response.json_body["message"]  # the broker's own words, for the trader to act on
    assert len(fno.simulator.order_writes()) == 1  # one write, refused: never resent


def test_the_premarket_check_reports_whether_the_account_may_trade_fno(fno):
    event = fno.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=[])
    assert fno.client.lambda_.invoke("premarket_token_check", event).payload["fno_onboarded"] == {"NSE": True, "BSE": True}
    fno.simulator.fno_enabled = False
    assert fno.client.lambda_.invoke("premarket_token_check", event).payload["fno_onboarded"] == {"NSE": False, "BSE": False}


# --- MARKETABLE_LIMIT_PCT: an option's MARKET order as a LIMIT beyond its last price ----------

@pytest.fixture
def marketable(fno):
    settings = fno.settings.model_copy(update={"marketable_limit_pct": Decimal(2)})
    services.install(services.build(settings))
    fno.settings = settings
    return fno


def an_option(sim, option_type="CE", exchange="NSE", underlying="NIFTY"):
    return next(c for c in live(sim, underlying, option=True, exchange=exchange) if c.option_type == option_type)


def tradingview_symbol(contract):
    return f"{contract.underlying}{contract.expiry:%y%m%d}{contract.option_type[0]}{contract.strike.normalize():f}"


def broker_reads(sim):
    """Every request the broker got other than order writes and the masters' downloads."""
    writes = sim.order_writes()
    return [(r.path, r.query.get("scrip-codes")) for r in sim.requests()
            if r not in writes and r.path != "/market/instruments"]


@pytest.mark.parametrize("option_type", ["CE", "PE"])
@pytest.mark.parametrize("action, sent", [("buy", 103.4), ("sell", 99.3)])
def test_a_market_option_goes_as_a_limit_beyond_its_ltp_from_one_quote_read(marketable, option_type, action, sent):
    sim = marketable.simulator
    option = an_option(sim, option_type)
    sim.ltp[option.security_id] = Decimal("101.35")  # BUY: 101.35 × 1.02 = 103.377 → 103.40; SELL: 99.323 → 99.30
    # The README's messages carry {{close}} (here the index chart's): the limit is priced from the option's LTP.
    body = placed(marketable.post(alert(symbol=tradingview_symbol(option), action=action, lots=1, price="24012.5")))
    write = the_write(marketable)
    assert {k: write.json[k] for k in ("order_type", "limit_price", "security_id", "txn_type", "qty", "validity")} == \
        {"order_type": "LIMIT", "limit_price": sent, "security_id": option.security_id, "txn_type": action.upper(),
         "qty": option.lot, "validity": "DAY"}
    code = f"NFO_{option.security_id}"
    assert broker_reads(sim) == [("/market/quotes/ltp", code)]  # one read prices the order and values it
    target = "103.3770" if action == "buy" else "99.3230"
    assert body["rounding"] == {"price": {"asked": "MARKET", "ltp": "101.35", "ltp_from": f"quote {code}",
                                          "percent": "2", "target": target, "sent": f"{sent:.2f}",
                                          "tick": str(option.tick)}}


@pytest.mark.parametrize("action, ltp, sent", [
    ("buy", "10.05", 10.15),   # 10.100 25: up, away from the LTP (nearest would be 10.10)
    ("sell", "10.05", 9.95),   # 9.999 75: down, away from the LTP (nearest would be 10.00)
    ("buy", "100.00", 100.5),  # 100.50 exactly, on the tick: as it is
    ("sell", "0.05", 0.05),    # below one tick: one tick, never 0
])
def test_the_marketable_limit_rounds_to_the_tick_away_from_the_ltp(marketable, action, ltp, sent):
    settings = marketable.settings.model_copy(update={"marketable_limit_pct": Decimal("0.5")})
    services.install(services.build(settings))
    sim = marketable.simulator
    option = an_option(sim, "CE")
    sim.ltp[option.security_id] = Decimal(ltp)
    body = placed(marketable.post(alert(symbol=tradingview_symbol(option), action=action, lots=1)))
    assert the_write(marketable).json["limit_price"] == sent
    shown = body["rounding"]["price"]
    assert (Decimal(shown["ltp"]), shown["percent"], shown["sent"]) == (Decimal(ltp), "0.5", f"{sent:.2f}")


def test_a_bse_market_option_reads_its_bfo_quote(marketable):
    sim = marketable.simulator
    option = an_option(sim, "PE", exchange="BSE", underlying="SENSEX")
    sim.ltp[option.security_id] = Decimal("250.10")
    body = placed(marketable.post(alert(symbol=f"BSE:{tradingview_symbol(option)}", action="sell", lots=1)))
    write = the_write(marketable)
    assert (write.json["order_type"], write.json["limit_price"], write.json["exchange"], write.json["algo_id"]) == \
        ("LIMIT", 245.05, "BSE", "9" * 16)  # 250.10 × 0.98 = 245.098 → 245.05
    assert broker_reads(sim) == [("/market/quotes/ltp", f"BFO_{option.security_id}")]
    assert body["rounding"]["price"]["ltp_from"] == f"quote BFO_{option.security_id}"


def test_off_by_default_a_market_option_stays_market(fno):
    sim = fno.simulator
    option = an_option(sim, "CE")
    body = placed(fno.post(alert(symbol=tradingview_symbol(option), lots=1)))
    write = the_write(fno)
    assert write.json["order_type"] == "MARKET" and "limit_price" not in write.json
    assert "rounding" not in body
    assert broker_reads(sim) == [("/market/quotes/ltp", f"NFO_{option.security_id}")]  # MAX_ORDER_VALUE's read


def test_futures_stay_market_with_the_setting(marketable):
    sim = marketable.simulator
    body = placed(marketable.post(alert(symbol="NIFTY1!", lots=1)))
    write = the_write(marketable)
    assert write.json["order_type"] == "MARKET" and "limit_price" not in write.json and "rounding" not in body
    assert broker_reads(sim) == [("/market/quotes/ltp", f"NFO_{futures(sim, 'NIFTY')[0].security_id}")]


def test_a_relative_option_takes_the_chain_price_without_a_quote_read(marketable):
    sim = marketable.simulator
    weekly = live(sim, "NIFTY", option=True)[0].expiry
    strikes = sorted({c.strike for c in live(sim, "NIFTY", option=True) if c.expiry == weekly})
    sim.set_spot("NIFTY", strikes[len(strikes) // 2])
    expected = sim.find_contract("NIFTY", weekly, strikes[len(strikes) // 2 + 1], "CE")  # OTM1
    sim.ltp[expected.security_id] = Decimal("87.65")  # 87.65 × 1.02 = 89.403 → 89.45
    body = placed(marketable.post(alert(underlying="NIFTY", option_type="CE", offset="OTM1", expiry="weekly",
                                        exchange="NSE_INDEX", lots=1)))
    write = the_write(marketable)
    assert (write.json["security_id"], write.json["order_type"], write.json["limit_price"]) == \
        (expected.security_id, "LIMIT", 89.45)
    assert [path for path, _ in broker_reads(sim)] == ["/market/option-chain"]  # the chain's price: no quote read
    assert body["rounding"]["price"] | {} == {**body["rounding"]["price"], "ltp": "87.65", "ltp_from": "option chain"}


def test_the_marketable_limit_is_what_max_order_value_checks_without_a_second_read(marketable):
    settings = marketable.settings.model_copy(update={"max_order_value": Decimal(6000)})
    services.install(services.build(settings))
    sim = marketable.simulator
    option = an_option(sim, "CE")
    sim.ltp[option.security_id] = Decimal("101.35")
    response = marketable.post(alert(symbol=tradingview_symbol(option), lots=1))
    assert response.status_code == 422 and response.json_body["error"] == "risk_limit", response.json_body
    assert f"({option.lot} × ₹103.40 price)" in response.json_body["message"]
    assert broker_reads(sim) == [("/market/quotes/ltp", f"NFO_{option.security_id}")]
    assert sim.order_writes() == []


@pytest.mark.parametrize("failure", ["http500", "rate_limit", "unquotable"])
def test_an_unreadable_quote_refuses_the_order_rather_than_send_a_market(marketable, failure):
    sim = marketable.simulator
    option = an_option(sim, "CE")
    if failure == "unquotable":  # INDstocks answers 400 "Invalid scrip codes" for a code it cannot quote
        sim.spots.pop("NIFTY")
    else:
        sim.inject_fault("/market/quotes/ltp", failure)
    sent = alert(symbol=tradingview_symbol(option), lots=1)
    response = marketable.post(sent)
    assert response.status_code == 503, response.json_body
    assert response.json_body["error"] == "dependency_unavailable"
    message = response.json_body["message"]
    assert f"NFO_{option.security_id}" in message and "MARKETABLE_LIMIT_PCT" in message and "nothing was sent" in message
    assert sim.order_writes() == []
    assert broker_reads(sim) == [("/market/quotes/ltp", f"NFO_{option.security_id}")]  # read once, not retried
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": f"id:{sent['alert_id']}"}})
    assert item["Item"]["state"]["S"] == "failed"  # provably not sent: the same alert may be sent again


def test_a_dead_token_on_the_quote_read_is_reread_once_and_the_limit_goes_with_the_new_one(marketable):
    sim = marketable.simulator
    option = an_option(sim, "CE")
    placed(marketable.post(alert(symbol="NIFTY1!", lots=1, price="24500")))  # the token cached, the master loaded
    sim.set_tokens(["tok-RENEWED-16"])
    marketable.ssm.put_parameter(Name=marketable.settings.token_parameter, Value="tok-RENEWED-16",
                                 Type="SecureString", Overwrite=True)
    sim.reset()
    sim.ltp[option.security_id] = Decimal("101.35")
    placed(marketable.post(alert(symbol=tradingview_symbol(option), lots=1)))
    reads = sim.requests("/market/quotes/ltp")
    assert [read.headers["authorization"] for read in reads] == [SEEDED_TOKEN, "tok-RENEWED-16"]
    write = the_write(marketable)
    assert (write.headers["authorization"], write.json["order_type"], write.json["limit_price"]) == \
        ("tok-RENEWED-16", "LIMIT", 103.4)
