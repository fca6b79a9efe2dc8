"""The dashboard in headless Chromium against the local stack of `make run` (real `chalice local`,
moto, the simulator), at a phone viewport (390×844) and a desktop one: sign-in, each action,
lockout, CSRF refusal, an expired session; a screenshot of each state in test-artifacts/; an
accessibility check (labels, contrast from the page's own colours, every action by Tab); and no
secret (admin key, token, cookie, signing secret) in the relay's log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager

import boto3
import pytest
import requests

from local.stack import REGION, LocalStack
from tests.conftest import BROWSER_SKIP_REASON
from tests.test_local_stack import ARTIFACTS, REPO, _chromium

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
SECRET_NAME = "/indstocks-relay/local/dashboard-session-secret"


@pytest.fixture(scope="module")
def local():
    if _chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (.ci/run does)")
        pytest.skip(BROWSER_SKIP_REASON)
    with LocalStack(relay_port=0, run_schedules=False, simulator_fills=True,
                    workdir=REPO / "build" / "test-dashboard-stack") as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(local):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def aws(local, service):
    return boto3.client(service, endpoint_url=local.moto_url, region_name=REGION,
                        aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto's


@pytest.fixture(autouse=True)
def fresh(local):
    """Each test starts live, with no lockout window and no cached broker copy (tokens pasted by a
    test stay alive in the simulator: the stored one is the last pasted)."""
    dynamodb = aws(local, "dynamodb")
    table = "indstocks-relay-local-state"
    for item in dynamodb.scan(TableName=table)["Items"]:
        pk = item["pk"]["S"]
        if pk.startswith(("attempts#admin", "lock#dashboard-read", "blob#dashboard-read", "switch#")):
            dynamodb.delete_item(TableName=table, Key={"pk": {"S": pk}})
    yield


@contextmanager
def opened(browser, name, javascript=True):
    """A fresh browser context (no cookie) at the named viewport, and its page."""
    context = browser.new_context(viewport=VIEWPORTS[name], device_scale_factor=1, is_mobile=name == "phone",
                                  has_touch=name == "phone", java_script_enabled=javascript)
    try:
        yield context, context.new_page()
    finally:
        context.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def sign_in(page, local):
    page.goto(local.dashboard_url)
    page.fill("#admin_key", local.admin_key)
    page.click("button[type=submit]")
    page.wait_for_selector("#live")


def webhook(local, **fields):
    body = {"secret": local.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
            "alert_id": f"dash-{time.monotonic_ns()}", **fields}
    response = requests.post(local.webhook_url, json=body, timeout=10)
    assert response.status_code in (200, 202), response.text
    return response.json()


def run_sweep(local):
    """The real minute sweep, once, as its schedule would run it (a process of its own)."""
    code = ("import app; app.order_sweep({'detail-type': 'Scheduled Event', 'source': 'aws.events', "
            "'time': '2026-01-01T00:00:00Z', 'resources': [], 'detail': {}, 'region': 'ap-south-1', "
            "'account': '000000000000', 'id': 'x', 'version': '0'}, None)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **local.environment()},
                   check=True, capture_output=True, timeout=60)


def message(page):
    return page.inner_text("#message")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_sign_in_then_every_action(local, browser, viewport):
    filled = webhook(local)  # MARKET: fills at the simulator's price → an open position
    resting = webhook(local, order_type="LIMIT", price=1, alert_id=f"rest-{time.monotonic_ns()}")  # stays open
    run_sweep(local)
    origins = []
    with opened(browser, viewport) as (context, page):
        page.goto(local.dashboard_url)
        shot(page, f"{viewport}-sign-in")
        sign_in(page, local)
        page.on("request", lambda sent: origins.append(sent.headers.get("origin")) if sent.method == "POST" else None)
        [cookie] = [c for c in context.cookies() if c["name"].startswith("__Host-relay-dashboard")]
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert cookie["expires"] - time.time() <= 12 * 3600 + 5
        body = page.inner_text("body")
        assert "Live" in body and "Valid" in body and "Open positions" in body
        assert filled["order_id"] in body and f"Cancel {resting['order_id']}" in body
        assert "No open alarm" in body, body
        assert page.locator("svg.chart").count() == 1
        if viewport == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        shot(page, f"{viewport}-view")

        page.click("button:has-text('Pause')")
        assert "Paused" in message(page) and page.locator("span.badge:has-text('Paused')").count() == 1
        shot(page, f"{viewport}-paused")
        page.click("button:has-text('Resume')")
        assert "Resumed" in message(page)

        page.click(f"button:has-text('Cancel {resting['order_id']}')")
        assert f"Cancel {resting['order_id']}: cancelled" in message(page)
        shot(page, f"{viewport}-cancelled")

        new_token = f"tok-dash-{time.monotonic_ns()}"
        local.simulator.add_token(new_token)
        page.click("summary:has-text('Paste a new token')")
        page.fill("textarea[name=token]", new_token)
        page.click("button:has-text('Save token')")
        assert "Token saved for Demo Trader" in message(page)
        assert new_token not in page.content()
        shot(page, f"{viewport}-token-saved")

        page.click("button:has-text('Flatten')")
        assert "Yes, flatten now" in page.inner_text("body")
        shot(page, f"{viewport}-flatten-confirm")
        page.click("button:has-text('Yes, flatten now')")
        assert "Flattened (relay)" in message(page)
        assert page.locator("span.badge:has-text('Paused')").count() == 1
        shot(page, f"{viewport}-flattened")
        page.click("button:has-text('Resume')")

        page.click("button:has-text('Sign out everywhere')")
        page.wait_for_selector("#admin_key")
        assert set(origins) == {local.relay_url}  # every form post names its origin, which the relay checks


def test_a_wrong_key_then_the_lockout(local, browser):
    with opened(browser, "phone") as (context, page):
        page.goto(local.dashboard_url)
        for _ in range(5):
            page.fill("#admin_key", "not-the-admin-key-000")
            page.click("button[type=submit]")
            assert "missing or invalid credentials" in message(page)
        shot(page, "phone-wrong-key")
        page.fill("#admin_key", local.admin_key)  # the right key, too late: this address is locked
        page.click("button[type=submit]")
        assert "too many failed attempts" in message(page)
        assert not [c for c in context.cookies() if c["name"].startswith("__Host-")]
        shot(page, "phone-locked-out")


def test_a_form_from_another_session_is_refused(local, browser):
    with opened(browser, "phone") as (context, page):
        sign_in(page, local)
        page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged-csrf-token')")
        page.click("button:has-text('Pause')")
        assert "CSRF check failed" in message(page)
        shot(page, "phone-csrf-refused")
        assert page.locator("span.badge:has-text('Live')").count() == 1  # nothing was paused


def test_an_expired_session_signs_out(local, browser):
    from chalicelib.dashboard.sessions import COOKIE_NAME, open_session

    with opened(browser, "desktop") as (context, page):
        sign_in(page, local)
        secret = aws(local, "ssm").get_parameter(Name=SECRET_NAME, WithDecryption=True)["Parameter"]["Value"]
        _, old = open_session(secret.encode(), time.time() - 13 * 3600)
        context.add_cookies([{"name": COOKIE_NAME, "value": old, "domain": "127.0.0.1", "path": "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"}])
        page.click("button:has-text('Pause')")
        assert "Your session has ended" in message(page)
        shot(page, "desktop-expired-session")
        page.goto(local.dashboard_url)
        assert page.locator("#admin_key").count() == 1


def _luminance(rgb):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(v)) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground, background):
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Every element with text of its own: its computed colour and the first opaque background behind it.
_COLOURS = """() => [...document.querySelectorAll('body *')].filter(e => e.offsetParent !== null &&
  [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())).map(e => {
    let b = e, bg = 'rgba(0, 0, 0, 0)';
    while (b && (bg = getComputedStyle(b).backgroundColor) === 'rgba(0, 0, 0, 0)') b = b.parentElement;
    const fg = e.closest('svg') ? getComputedStyle(e).fill : getComputedStyle(e).color;
    return [e.tagName + '.' + e.className.baseVal === undefined ? e.className : e.tagName, fg, bg];
  })"""


def test_accessibility_labels_contrast_and_keyboard(local, browser):
    webhook(local, order_type="LIMIT", price=1, alert_id=f"a11y-{time.monotonic_ns()}")
    with opened(browser, "phone") as (context, page):
        page.goto(local.dashboard_url)
        sign_in(page, local)
        page.click("summary:has-text('Paste a new token')")  # its field is checked too
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
        assert unlabeled == []
        assert page.evaluate("() => [...document.querySelectorAll('button')].filter(b => !b.innerText.trim()).length") == 0
        assert page.locator("svg.chart[role=img][aria-label]").count() == 1

        pairs = page.evaluate(_COLOURS)
        assert len(pairs) > 20
        low = [(what, fg, bg, round(contrast(_rgb(fg), _rgb(bg)), 2)) for what, fg, bg in pairs
               if contrast(_rgb(fg), _rgb(bg)) < 4.5]
        assert low == []

        page.goto(local.dashboard_url)
        actions = set(page.evaluate("() => [...document.querySelectorAll('button, summary')]"
                                    ".filter(b => b.checkVisibility()).map(b => b.innerText.trim())"))
        assert {"Pause", "Flatten…", "Paste a new token", "Sign out", "Sign out everywhere"} <= actions
        assert any(action.startswith("Cancel ") for action in actions)
        reached = set()
        page.locator("body").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("() => document.activeElement.innerText.trim()"))
        assert actions <= reached, actions - reached
        page.goto(local.dashboard_url)  # and one of them, by keyboard alone
        page.locator("body").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.innerText.trim()") == "Pause":
                break
        page.keyboard.press("Enter")
        page.wait_for_selector("#message")
        assert "Paused" in message(page)
        shot(page, "phone-keyboard-paused")


def _rgb(css):
    return [int(v) for v in re.findall(r"\d+", css)[:3]]


def test_no_secret_reaches_the_relay_s_log(local, browser):
    with opened(browser, "phone") as (context, page):
        sign_in(page, local)
        page.click("button:has-text('Pause')")
        page.click("button:has-text('Resume')")
        cookie = next(c["value"] for c in context.cookies() if c["name"].startswith("__Host-"))
    secret = aws(local, "ssm").get_parameter(Name=SECRET_NAME, WithDecryption=True)["Parameter"]["Value"]
    log = local.log_path.read_text()
    assert "dashboard pause" in log and "session_id" in log
    for value in (local.admin_key, local.token, cookie, cookie.split(".")[-1], secret):
        assert value not in log


def test_without_javascript_it_signs_in_and_acts(local, browser):
    with opened(browser, "phone", javascript=False) as (context, page):
        sign_in(page, local)
        page.click("summary:has-text('Paste a new token')")  # <details>: no script needed
        assert page.locator("textarea[name=token]").is_visible()
        page.click("button:has-text('Pause')")
        assert "Paused" in message(page)
        page.click("button:has-text('Resume')")
        assert "Resumed" in message(page)


def test_with_javascript_the_view_refreshes_itself_under_the_csp(local, browser):
    with opened(browser, "desktop") as (context, page):
        refused = []
        page.on("console", lambda note: refused.append(note.text) if "Content Security Policy" in note.text else None)
        sign_in(page, local)
        assert page.locator("span.badge:has-text('Live')").count() == 1
        answer = requests.post(local.relay_url + "/pause", json={"reason": "from elsewhere"},
                               headers={"X-Admin-Key": local.admin_key}, timeout=10)
        assert answer.status_code == 200
        page.wait_for_selector("span.badge:has-text('Paused')", timeout=30000)  # no reload: the script's refresh
        requests.post(local.relay_url + "/resume", json={}, headers={"X-Admin-Key": local.admin_key}, timeout=10)
    assert refused == []
