"""The dashboard through chalice.test.Client: moto for AWS, the simulator over HTTP. Sign-in and
lockout through the admin key, the session cookie, CSRF, each action and what it changed, the
view's data and its one cached read of the broker."""

from __future__ import annotations

import html
import json
import re
import time
from urllib.parse import urlencode

import pytest

from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_TOKEN, TOKEN_PARAMETER
from tests.test_accounts import family  # noqa: F401 - the fixture of several accounts

FORM = "application/x-www-form-urlencoded"
SECRET_PARAMETER = "/indstocks-relay/test/dashboard-session-secret"
NEW_TOKEN = "tok-DASHPASTE-81c4e2"


def text(response) -> str:
    return html.unescape(response.body if isinstance(response.body, str) else response.body.decode())


def headers_of(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def post(stack, fields, cookie=None, content_type=FORM):
    headers = {"Content-Type": content_type, **({"Cookie": cookie} if cookie else {})}
    return stack.client.http.post("/dashboard", headers=headers, body=urlencode(fields))


def get(stack, cookie=None):
    return stack.client.http.get("/dashboard", headers={"Cookie": cookie} if cookie else {})


def sign_in(stack, key=SEEDED_ADMIN_KEY) -> str:
    response = post(stack, {"do": "sign_in", "admin_key": key})
    assert response.status_code == 303, text(response)
    return headers_of(response)["set-cookie"].split(";")[0]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def signed_in(stack):
    cookie = sign_in(stack)
    page = text(get(stack, cookie))
    return cookie, csrf_of(page)


def act(stack, signed_in, do, **fields):
    cookie, csrf = signed_in
    return post(stack, {"do": do, "csrf": csrf, "account": "primary", **fields}, cookie)


def place(stack, **fields):
    response = stack.post(stack.alert(**fields))
    assert response.status_code == 200, response.json_body
    return response.json_body


def dashboard_flow(stack) -> None:
    """Every AWS call the dashboard makes, once (tests/test_iam.py checks them against the policy)."""
    cookie = sign_in(stack)
    csrf = csrf_of(text(get(stack, cookie)))
    for do in ("pause", "resume"):
        assert post(stack, {"do": do, "csrf": csrf, "account": "primary"}, cookie).status_code == 200
    assert post(stack, {"do": "sign_out_everywhere", "csrf": csrf}, cookie).status_code == 303


def test_without_a_session_the_dashboard_is_the_sign_in_form(stack):
    response = get(stack)
    assert response.status_code == 200
    page = text(response)
    assert 'name="admin_key"' in page and 'value="sign_in"' in page and "Open positions" not in page
    headers = headers_of(response)
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src 'sha256-" in csp
    assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
    assert "http://" not in page and "https://" not in page


def test_sign_in_sets_a_locked_down_cookie_and_creates_the_signing_secret_once(stack):
    with pytest.raises(stack.ssm.exceptions.ParameterNotFound):
        stack.ssm.get_parameter(Name=SECRET_PARAMETER)
    response = post(stack, {"do": "sign_in", "admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 303 and headers_of(response)["location"] == "dashboard"
    cookie = headers_of(response)["set-cookie"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("__Host-relay-dashboard=v1.")
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= set(attributes)
    assert int(next(a for a in attributes if a.startswith("Max-Age=")).split("=")[1]) <= 12 * 3600
    parameter = stack.ssm.get_parameter(Name=SECRET_PARAMETER)["Parameter"]
    assert parameter["Type"] == "SecureString"
    sign_in(stack)
    assert stack.ssm.get_parameter(Name=SECRET_PARAMETER)["Parameter"]["Version"] == parameter["Version"]


@pytest.mark.parametrize("key", ["", "wrong-admin-key-123"])
def test_a_wrong_key_is_401_without_a_cookie(stack, key):
    response = post(stack, {"do": "sign_in", "admin_key": key})
    assert response.status_code == 401 and "set-cookie" not in headers_of(response)
    assert 'name="admin_key"' in text(response)


def test_the_token_page_s_lockout_holds_for_the_dashboard(stack):
    for _ in range(5):
        assert post(stack, {"do": "sign_in", "admin_key": "wrong-admin-key-123"}).status_code == 401
    response = post(stack, {"do": "sign_in", "admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 429 and "set-cookie" not in headers_of(response)
    assert stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY}).status_code == 429


def test_the_view_shows_token_switch_alerts_positions_and_latency(stack, signed_in):
    stack.simulator.fills = True
    placed = place(stack)
    page = text(get(stack, signed_in[0]))
    assert "Demo Trader" not in page or "Token" in page
    assert "Valid" in page and "automatic rotation off" in page
    assert "Live" in page and 'value="pause"' in page
    assert "BUY 1 SBIN" in page and placed["order_id"] in page and "placed" in page
    assert "<svg" in page and "alert → broker answer" in page
    assert "Open positions" in page and "SBIN" in page
    assert SEEDED_TOKEN not in page and SEEDED_ADMIN_KEY not in page


def test_one_broker_read_serves_the_views_of_a_few_seconds(stack, signed_in):
    cookie = signed_in[0]
    paths = ("/order-book", "/portfolio/positions", "/market/quotes/ltp")
    before = {path: len(stack.simulator.requests(path)) for path in paths}
    for _ in range(3):
        assert get(stack, cookie).status_code == 200
    reads = {path: len(stack.simulator.requests(path)) - before[path] for path in paths}
    # At most one read of each (positions: one read per segment and product, four in all).
    assert reads["/order-book"] <= 1 and reads["/portfolio/positions"] <= 4 and reads["/market/quotes/ltp"] <= 1


def test_a_post_without_the_session_s_csrf_token_is_403_and_changes_nothing(stack, signed_in):
    cookie, _ = signed_in
    response = post(stack, {"do": "pause", "csrf": "forged", "account": "primary"}, cookie)
    assert response.status_code == 403 and "CSRF" in text(response)
    response = post(stack, {"do": "pause", "account": "primary"}, cookie)
    assert response.status_code == 403
    from chalicelib import services

    assert services.get().relay.switch.read().paused is False


def test_another_session_s_csrf_token_is_refused(stack, signed_in):
    other_cookie = sign_in(stack)
    response = post(stack, {"do": "pause", "csrf": signed_in[1], "account": "primary"}, other_cookie)
    assert response.status_code == 403


def test_a_post_without_a_session_is_401(stack):
    response = post(stack, {"do": "pause", "csrf": "x", "account": "primary"})
    assert response.status_code == 401 and "sign in again" in text(response)


def test_pause_and_resume_through_the_kill_switch(stack, signed_in):
    from chalicelib import services

    response = act(stack, signed_in, "pause")
    assert response.status_code == 200 and "Paused" in text(response)
    state = services.get().relay.switch.read()
    assert state.paused and state.reason.startswith("dashboard session ")
    assert stack.post(stack.alert()).status_code == 409  # the relay obeys it
    response = act(stack, signed_in, "resume")
    assert response.status_code == 200 and "Resumed" in text(response)
    assert services.get().relay.switch.read().paused is False


def test_flatten_asks_first_then_flattens(stack, signed_in):
    from chalicelib import services

    stack.simulator.fills = True
    place(stack)
    writes = len(stack.simulator.order_writes())
    response = act(stack, signed_in, "flatten")
    assert response.status_code == 200 and "Yes, flatten now" in text(response)
    assert services.get().relay.switch.read().paused is False and len(stack.simulator.order_writes()) == writes
    response = act(stack, signed_in, "flatten_confirmed", scope="relay")
    assert response.status_code == 200 and "Flattened (relay)" in text(response), text(response)
    assert services.get().relay.switch.read().paused is True
    [close] = stack.simulator.order_writes()[writes:]
    assert close.json["txn_type"] == "SELL" and close.json["qty"] == 1


def test_paste_a_token(stack, signed_in):
    stack.simulator.add_token(NEW_TOKEN)
    response = act(stack, signed_in, "paste_token", token=NEW_TOKEN)
    assert response.status_code == 200 and "Token saved for Demo Trader" in text(response)
    assert NEW_TOKEN not in text(response)
    stored = stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert stored == NEW_TOKEN


def test_a_rejected_token_is_a_400_on_the_page_and_nothing_stored(stack, signed_in):
    response = act(stack, signed_in, "paste_token", token="tok-not-known-to-indstocks")
    assert response.status_code == 400 and "Not done" in text(response)
    stored = stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert stored == SEEDED_TOKEN


@pytest.fixture
def uncached(monkeypatch):
    monkeypatch.setattr("chalicelib.dashboard.broker_reads.CACHE_SECONDS", 0)


def test_cancel_one_open_order(stack, uncached, signed_in):
    placed = place(stack, order_type="LIMIT", price=100)  # the simulator leaves a LIMIT open
    page = text(get(stack, signed_in[0]))
    assert f"Cancel {placed['order_id']}" in page
    response = act(stack, signed_in, "cancel", order_id=placed["order_id"])
    assert response.status_code == 200 and f"Cancel {placed['order_id']}: cancelled" in text(response), text(response)
    [cancel] = stack.simulator.requests("/order/cancel")
    assert cancel.json["order_id"] == placed["order_id"]
    response = act(stack, signed_in, "cancel", order_id=placed["order_id"])
    assert response.status_code == 409 and "is not open" in text(response)


@pytest.mark.parametrize("fields, status, said", [
    ({"do": "explode"}, 400, "field 'do' must be one of"),
    ({"do": "cancel", "order_id": "<script>"}, 400, "field 'order_id'"),
    ({"do": "pause", "account": "other"}, 400, "no such account"),
    ({"do": "pause", "surprise": "1"}, 400, "field 'surprise'"),
    ({"do": "flatten_confirmed", "scope": "everything"}, 400, "field 'scope'"),
])
def test_bad_forms_are_4xx_with_a_clear_message(stack, signed_in, fields, status, said):
    cookie, csrf = signed_in
    response = post(stack, {"csrf": csrf, "account": "primary", **fields}, cookie)
    assert response.status_code == status and said in text(response), text(response)
    assert "<script>" not in text(response).split("<script>", 1)[0]


def test_a_field_twice_and_a_json_body_are_refused(stack, signed_in):
    cookie, csrf = signed_in
    body = urlencode({"do": "pause", "csrf": csrf}) + "&do=resume"
    response = stack.client.http.post("/dashboard", headers={"Content-Type": FORM, "Cookie": cookie}, body=body)
    assert response.status_code == 400 and "more than once" in text(response)
    response = post(stack, {"do": "pause"}, cookie, content_type="application/json")
    assert response.status_code == 415


def test_an_expired_or_forged_session_is_signed_out(stack, signed_in):
    from chalicelib import services
    from chalicelib.dashboard.sessions import SigningSecret, open_session, session_cookie

    secret = SigningSecret(services.get().parameters, SECRET_PARAMETER).value()
    _, old = open_session(secret, time.time() - 13 * 3600)
    assert 'name="admin_key"' in text(get(stack, f"__Host-relay-dashboard={old}"))
    response = post(stack, {"do": "pause", "csrf": signed_in[1]}, f"__Host-relay-dashboard={old}")
    assert response.status_code == 401
    forged = signed_in[0][:-3] + "AAA"
    assert 'name="admin_key"' in text(get(stack, forged))
    assert session_cookie("x", open_session(secret, 0)[0], 0).count("Max-Age=43200") == 1


def test_sign_out_everywhere_rotates_the_secret_and_ends_every_session(stack, signed_in):
    other = sign_in(stack)
    response = post(stack, {"do": "sign_out_everywhere", "csrf": signed_in[1]}, signed_in[0])
    assert response.status_code == 303 and "Max-Age=0" in headers_of(response)["set-cookie"]
    for cookie in (signed_in[0], other):
        assert 'name="admin_key"' in text(get(stack, cookie))


def test_sign_out_clears_the_cookie(stack, signed_in):
    response = post(stack, {"do": "sign_out", "csrf": signed_in[1]}, signed_in[0])
    assert response.status_code == 303 and headers_of(response)["set-cookie"].startswith("__Host-relay-dashboard=;")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://relay.test.evil.example"])
def test_a_form_from_another_site_is_refused_even_at_sign_in(stack, origin):
    response = stack.client.http.post("/dashboard", headers={"Content-Type": FORM, "Origin": origin, "Host": "relay.test"},
                                      body=urlencode({"do": "sign_in", "admin_key": SEEDED_ADMIN_KEY}))
    assert response.status_code == 403 and "set-cookie" not in headers_of(response)
    response = stack.client.http.post("/dashboard", headers={"Content-Type": FORM, "Origin": "https://relay.test",
                                                             "Host": "relay.test"},
                                      body=urlencode({"do": "sign_in", "admin_key": SEEDED_ADMIN_KEY}))
    assert response.status_code == 303


def test_no_cookie_signing_secret_key_or_token_in_the_logs(stack, capsys, caplog):
    from chalicelib import services

    stack.simulator.add_token(NEW_TOKEN)
    cookie = sign_in(stack)
    csrf = csrf_of(text(get(stack, cookie)))
    for fields in ({"do": "pause"}, {"do": "resume"}, {"do": "paste_token", "token": NEW_TOKEN},
                   {"do": "pause", "csrf": "forged"}):
        post(stack, {"csrf": csrf, "account": "primary", **fields}, cookie)
    secret = services.get().parameters.get(SECRET_PARAMETER, max_age=0)
    logged = capsys.readouterr().out + caplog.text
    assert "dashboard pause" in logged and "session_id" in logged
    for value in (cookie.split("=", 1)[1], cookie.split(".")[-1], secret, csrf, SEEDED_ADMIN_KEY, NEW_TOKEN):
        assert value not in logged


def test_every_colour_pair_of_the_stylesheet_reads_at_4_5_to_1():
    """Without a browser too: each rule that sets a text colour and a background, from the CSS."""
    from chalicelib.dashboard.render import STYLE
    from tests.test_dashboard_browser import contrast

    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", STYLE):
        colours = dict(re.findall(r"(?<![-\w])(color|background|fill):(#[0-9a-f]{6})", body))
        text_colour = colours.get("color") or colours.get("fill")
        if text_colour:
            pairs.append((selector, text_colour, colours.get("background", "#ffffff")))
    assert len(pairs) >= 10
    rgb = lambda hex_colour: [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]  # noqa: E731
    assert [(s, fg, bg) for s, fg, bg in pairs if contrast(rgb(fg), rgb(bg)) < 4.5] == []


def _section(page: str, account: str) -> str:
    start = page.index(f'<section aria-labelledby="acct-{account}">')
    return page[start:page.index("</section>", start)]


def test_several_accounts_a_section_each_and_actions_with_the_account_s_own_token(family):  # noqa: F811
    from tests.test_accounts import ANITA_TOKEN, parameter

    response = family.post(family.alert(accounts=["anita"], order_type="LIMIT", price=100))
    assert response.status_code == 200, response.json_body
    order_id = json.loads(response.body)["order_id"] if "order_id" in json.loads(response.body) else \
        json.loads(response.body)["accounts"][0]["order_id"]
    cookie = sign_in(family)
    page = text(get(family, cookie))
    assert page.count("<section ") == 4  # primary, anita, ravi, dormant
    # Each section's journal is its own account's (the simulator keeps one order book for all tokens).
    assert order_id in _section(page, "anita") and "No alert today." in _section(page, "primary")
    assert 'name="account" value="anita"' in _section(page, "anita")
    csrf = csrf_of(page)
    response = post(family, {"do": "cancel", "csrf": csrf, "account": "anita", "order_id": order_id}, cookie)
    assert response.status_code == 200 and f"Cancel {order_id}: cancelled" in text(response), text(response)
    [cancel] = family.simulator.requests("/order/cancel")
    assert cancel.headers["authorization"] == ANITA_TOKEN
    family.simulator.add_token(NEW_TOKEN, account="anita")
    response = post(family, {"do": "paste_token", "csrf": csrf, "account": "anita", "token": NEW_TOKEN}, cookie)
    assert response.status_code == 200 and "Token saved" in text(response), text(response)
    assert family.ssm.get_parameter(Name=parameter("anita"), WithDecryption=True)["Parameter"]["Value"] == NEW_TOKEN
    assert family.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"] == SEEDED_TOKEN


def test_a_paper_stage_says_so(ssm, dynamodb, simulator, relay_settings):
    from chalice.test import Client

    from app import app
    from chalicelib import services
    from tests.conftest import Stack, seed, seed_admin_key

    seed(ssm)
    seed_admin_key(ssm)
    services.install(services.build(relay_settings.model_copy(update={"trading_mode": "paper"})))
    with Client(app, stage_name="dev") as client:
        stack = Stack(client, simulator, ssm, relay_settings)
        page = text(get(stack, sign_in(stack)))
    assert '<span class="badge warn">Paper</span>' in page
