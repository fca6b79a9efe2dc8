"""The dashboard's HTML: server-rendered, phone first, one self-contained document.

The stylesheet and the refresh script are inline and allowed by their hashes in the
Content-Security-Policy (`default-src 'none'`, no 'unsafe-inline', nothing third-party), so nothing
injected into a page could run or load anything. Every value from the journal, the broker or
the state table is escaped. Without JavaScript the page works as it is (every action is a plain
form); with it, the accounts' part refreshes itself every REFRESH_SECONDS while the page is
visible and no field is being typed into.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from html import escape
from typing import Any

from chalicelib import token_page
from chalicelib.config import IST
from chalicelib.dashboard.accounts import AccountView

REFRESH_SECONDS = 15
FORM_ACTION = "dashboard"  # relative: /dashboard locally, /api/dashboard behind API Gateway

# Colours: every text/background pair below is held to a contrast ratio of at least 4.5:1
# (tests/test_dashboard_browser.py computes it from this stylesheet).
STYLE = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;padding:16px 14px 40px;font-size:17px;line-height:1.45;max-width:46rem;margin-inline:auto;color:#1a1a1a;background:#ffffff}
h1{font-size:1.35rem;margin:0}
h2{font-size:1.2rem;margin:1.4rem 0 .6rem}
h3{font-size:1.02rem;margin:1.1rem 0 .4rem}
.card h3{margin-top:0}
header{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between}
header form{display:inline}
.muted{color:#4d4d4d;background:#ffffff;font-size:.92rem}
.card{border:1px solid #b3b3b3;border-radius:12px;padding:.7rem .85rem;margin:.6rem 0;color:#1a1a1a;background:#ffffff}
.row{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:baseline;justify-content:space-between}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-weight:700;font-size:.9rem}
.good{color:#0a4a2f;background:#dff5e8}
.bad{color:#7a1410;background:#fde2e1}
.warn{color:#5c3b00;background:#fff1cc}
.msg{padding:.75rem .9rem;border-radius:10px;margin:.8rem 0}
ul.plain{list-style:none;margin:0;padding:0}
ul.plain li{padding:.45rem 0;border-top:1px solid #d9d9d9;overflow-wrap:anywhere}
ul.plain li:first-child{border-top:0}
ol.timeline{list-style:none;margin:0;padding:0}
ol.timeline li{padding:.5rem 0;border-top:1px solid #d9d9d9;overflow-wrap:anywhere}
.steps{font-size:.92rem}
label{display:block;font-weight:600;margin:.6rem 0 .3rem}
input[type=password],textarea{box-sizing:border-box;width:100%;font:inherit;padding:.65rem;border:1px solid #767676;border-radius:10px;color:#1a1a1a;background:#ffffff}
textarea{min-height:5.5rem;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9rem;word-break:break-all}
fieldset{border:1px solid #b3b3b3;border-radius:10px;margin:.6rem 0;padding:.4rem .8rem}
fieldset label{display:inline;font-weight:400;margin:0 .8rem 0 .2rem}
button{font:inherit;font-weight:700;padding:.6rem 1rem;border:0;border-radius:10px;color:#ffffff;background:#0b6e4f;min-height:44px;cursor:pointer}
button.danger{color:#ffffff;background:#a3161a}
button.quiet{color:#1a1a1a;background:#e6e6e6}
button:focus-visible,input:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.6rem}
.actions form{margin:0}
details summary{cursor:pointer;font-weight:700;padding:.3rem 0;min-height:44px;display:flex;align-items:center}
svg.chart{width:100%;max-width:30rem;height:auto;display:block}
svg.chart .axis{stroke:#767676;stroke-width:1}
svg.chart .line{fill:none;stroke:#0b6e4f;stroke-width:2}
svg.chart .dot{fill:#0b6e4f}
svg.chart text{fill:#4d4d4d;font-size:11px}
.num{font-variant-numeric:tabular-nums}
""".strip()

SCRIPT = """
(function(){var live=document.getElementById('live');if(!live)return;
var every=(+live.getAttribute('data-refresh')||15)*1000;
function typing(){var a=document.activeElement;return a&&/^(INPUT|TEXTAREA)$/.test(a.tagName)&&a.value;}
setInterval(function(){if(document.hidden||typing())return;
fetch(window.location.pathname,{credentials:'same-origin',cache:'no-store'}).then(function(r){return r.ok?r.text():null;})
.then(function(html){if(!html)return;var next=new DOMParser().parseFromString(html,'text/html').getElementById('live');
if(next){live.replaceWith(next);live=next;}}).catch(function(){});},every);})();
""".strip()


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{_hash(STYLE)}'; "
    f"script-src 'sha256-{_hash(SCRIPT)}'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

# As the token page's, but its own CSP, and a referrer policy under which the browser names the
# page's origin on its own form posts (no-referrer makes it send `Origin: null`).
HEADERS = {**token_page.HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "same-origin"}


def document(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{escape(title)} · indstocks-relay</title>
<style>{STYLE}</style></head>
<body>
{body}
<script>{SCRIPT}</script>
</body></html>
"""


def notice(message: str | None, ok: bool) -> str:
    if not message:
        return ""
    return f'<p class="msg {"good" if ok else "bad"}" role="status" id="message">{escape(message)}</p>'


def sign_in_page(message: str | None = None, ok: bool = False) -> str:
    return document("Dashboard sign-in", f"""<main>
<h1>Relay dashboard</h1>
<p class="muted">Sign in with the relay's admin key. The session lasts up to 12 hours on this device.</p>
{notice(message, ok)}
<form method="post" action="{FORM_ACTION}" autocomplete="off">
<input type="hidden" name="do" value="sign_in">
<label for="admin_key">Admin key</label>
<input id="admin_key" name="admin_key" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Sign in</button></div>
</form>
</main>""")


def _form(do: str, csrf: str, account: str | None, button: str, css: str = "", extra: str = "") -> str:
    hidden = f'<input type="hidden" name="account" value="{escape(account)}">' if account else ""
    return (f'<form method="post" action="{FORM_ACTION}"><input type="hidden" name="do" value="{do}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">{hidden}{extra}'
            f'<button type="submit"{f" class={css!r}" if css else ""}>{button}</button></form>')


def dashboard_page(views: list[AccountView], stage: str, session_id: str, csrf: str, now: float,
                   message: str | None = None, ok: bool = False) -> str:
    accounts = "\n".join(_account(view, csrf, now) for view in views)
    return document("Dashboard", f"""<header>
<h1>Relay dashboard <span class="muted">· {escape(stage)}</span></h1>
<div class="actions">{_form("sign_out", csrf, None, "Sign out", "quiet")}
{_form("sign_out_everywhere", csrf, None, "Sign out everywhere", "quiet")}</div>
</header>
{notice(message, ok)}
<main id="live" data-refresh="{REFRESH_SECONDS}">
{accounts}
<p class="muted">Shown {_clock(now)} IST · session {escape(session_id)} · refreshes every {REFRESH_SECONDS} s with JavaScript,
or reload.</p>
</main>""")


def confirm_flatten_page(view_label: str, account: str, csrf: str) -> str:
    scope = ('<fieldset><legend>What to flatten</legend>'
             '<input type="radio" id="scope-relay" name="scope" value="relay" checked>'
             '<label for="scope-relay">What the relay traded today</label><br>'
             '<input type="radio" id="scope-all" name="scope" value="all">'
             '<label for="scope-all">The whole account</label></fieldset>')
    return document("Confirm flatten", f"""<main>
<h1>Flatten {escape(view_label)}?</h1>
<p class="msg warn" role="alert">This pauses the relay, cancels every open order and closes every open position with
a MARKET order. It cannot be undone.</p>
<form method="post" action="{FORM_ACTION}"><input type="hidden" name="do" value="flatten_confirmed">
<input type="hidden" name="csrf" value="{escape(csrf)}"><input type="hidden" name="account" value="{escape(account)}">
{scope}
<div class="actions"><button type="submit" class="danger">Yes, flatten now</button></div></form>
<form method="get" action="{FORM_ACTION}"><div class="actions"><button type="submit" class="quiet">No, back to the dashboard</button></div></form>
</main>""")


# --- one account ----------------------------------------------------------------------------


def _account(view: AccountView, csrf: str, now: float) -> str:
    return f"""<section aria-labelledby="acct-{escape(view.id)}">
<h2 id="acct-{escape(view.id)}">{escape(view.label)}{' <span class="badge warn">Paper</span>' if view.paper else ""}</h2>
{_alarms(view)}
{_switch(view, csrf)}
{_token(view, csrf, now)}
{_today(view)}
{_positions(view)}
{_open_orders(view, csrf)}
{_timeline(view)}
</section>"""


def _alarms(view: AccountView) -> str:
    sweep = view.last_sweep
    swept = (f"Last sweep {_clock(float(sweep['at']))} IST ({escape(str(sweep.get('outcome') or ''))}, "
             f"{escape(str(sweep.get('examined') or 0))} open items)" if sweep else "No sweep recorded yet")
    if not view.alarms:
        return f'<div class="card"><span class="badge good">No open alarm</span> <span class="muted">{swept}</span></div>'
    items = "".join(f"<li>{escape(alarm)}</li>" for alarm in view.alarms)
    return (f'<div class="card" role="alert"><span class="badge bad">{len(view.alarms)} open alarm(s)</span>'
            f'<ul class="plain">{items}</ul><p class="muted">{swept}</p></div>')


def _switch(view: AccountView, csrf: str) -> str:
    switch = view.switch
    if switch.paused:
        state = '<span class="badge bad">Paused</span>'
        button = _form("resume", csrf, view.id, "Resume")
    else:
        state = '<span class="badge good">Live</span>'
        button = _form("pause", csrf, view.id, "Pause", "danger")
    strategies = (f' · strategies paused: {escape(", ".join(sorted(switch.strategies)))}' if switch.strategies else "")
    since = f' since {_clock_iso(switch.since, "%d %b %H:%M")} IST ({escape(switch.reason or "")})' if switch.since else ""
    return f"""<div class="card"><div class="row"><strong>Relay</strong> {state}</div>
<p class="muted">{since.strip() or "never paused"}{strategies}</p>
<div class="actions">{button}{_form("flatten", csrf, view.id, "Flatten…", "danger")}</div></div>"""


def _token(view: AccountView, csrf: str, now: float) -> str:
    token = view.token
    if not token.present:
        badge = '<span class="badge bad">Missing</span>'
    elif token.valid is None:
        badge = '<span class="badge warn">Not verified</span>'
    else:
        badge = '<span class="badge good">Valid</span>' if token.valid else '<span class="badge bad">Not valid</span>'
    lines = []
    if token.expires_at is not None:
        left = token.expires_at - now
        lines.append(f"expires {_when(token.expires_at)} IST ({'in ' + _duration(left) if left > 0 else 'expired'})")
    if token.last_validated is not None:
        lines.append(f"last validated {_when(token.last_validated)} IST")
    lines.append(f"automatic rotation {'on' if token.rotation else 'off'}")
    if token.problem:
        lines.append(escape(token.problem))
    field_id = f"token-{escape(view.id)}"
    paste = _form("paste_token", csrf, view.id, "Save token", extra=(
        f'<label for="{field_id}">Access token</label>'
        f'<textarea id="{field_id}" name="token" required spellcheck="false" autocapitalize="off" '
        'autocorrect="off"></textarea>'))
    return f"""<div class="card"><div class="row"><strong>Token</strong> {badge}</div>
<p class="muted">{" · ".join(lines)}</p>
<details><summary>Paste a new token</summary>{paste}</details></div>"""


def _today(view: AccountView) -> str:
    counts = view.counts
    shown = [(name, counts.get(name, 0)) for name in ("placed", "filled", "queued", "rejected", "unknown", "failed",
                                                      "absent", "paused", "duplicate")]
    said = " · ".join(f"{count} {name}" for name, count in shown if count) or "no alerts yet"
    total = sum(count for name, count in counts.items() if name != "filled")
    values = [ms for _, ms in view.latencies]
    figures = ""
    if values:
        ordered = sorted(values)
        figures = (f"<p class=\"muted num\">alert → broker answer: median {ordered[len(ordered) // 2]:.0f} ms, "
                   f"slowest {ordered[-1]:.0f} ms ({len(values)} orders)</p>")
    return f"""<div class="card"><strong>Today</strong> <span class="muted">{total} alerts: {escape(said)}</span>
{figures}{latency_chart(view.latencies)}</div>"""


def latency_chart(points: list[tuple[float, float]], width: int = 360, height: int = 120) -> str:
    """Alert → broker answer (ms) through the day, as an inline SVG (no script, no style attribute)."""
    if not points:
        return '<p class="muted">No order written today: no latency to chart.</p>'
    left, right, top, bottom = 40, 8, 8, 22
    start, end = points[0][0], points[-1][0]
    if end - start < 60:
        start, end = start - 30, end + 30
    peak = max(ms for _, ms in points)
    scale = max(100.0, _nice(peak))

    def x(t: float) -> float:
        return left + (t - start) / (end - start) * (width - left - right)

    def y(ms: float) -> float:
        return top + (1 - ms / scale) * (height - top - bottom)

    coords = [(round(x(t), 1), round(y(ms), 1)) for t, ms in points]
    line = " ".join(f"{cx},{cy}" for cx, cy in coords)
    dots = "".join(f'<circle class="dot" cx="{cx}" cy="{cy}" r="2.5"/>' for cx, cy in coords)
    label = f"Alert to broker latency today: {len(points)} orders, slowest {peak:.0f} ms"
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>"
            f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}"/>'
            f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}"/>'
            f'<text x="2" y="{top + 8}">{scale:.0f} ms</text><text x="2" y="{height - bottom}">0</text>'
            f'<text x="{left}" y="{height - 6}">{_clock(start)[:5]}</text>'
            f'<text x="{width - right - 34}" y="{height - 6}">{_clock(end)[:5]}</text>'
            f'<polyline class="line" points="{line}"/>{dots}</svg>')


def _nice(value: float) -> float:
    """The next round number above `value` (100, 200, 500, 1000, 2000, …)."""
    step = 100.0
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def _positions(view: AccountView) -> str:
    broker = view.broker
    head = f"<h3>Open positions</h3>{_broker_note(view)}"
    if broker.problem and not broker.positions:
        return f'<div class="card">{head}</div>'
    rows = "".join(
        f'<li><div class="row"><strong>{escape(str(p["symbol"]))}</strong><span class="num">'
        f'{escape(_pnl(p["pnl"]))}</span></div><span class="muted num">{p["net_qty"]} {escape(str(p["product"]))} '
        f'@ {escape(str(p["avg_price"]))} · LTP {escape(str(p["ltp"] or "not quoted"))}</span></li>'
        for p in broker.positions) or "<li>No open position.</li>"
    return (f'<div class="card">{head}<ul class="plain">{rows}</ul><p class="muted num">Day: realised '
            f'{escape(_pnl(broker.realized))} · unrealised {escape(_pnl(broker.unrealized))}</p></div>')


def _broker_note(view: AccountView) -> str:
    broker = view.broker
    said = f"INDstocks read {_clock(broker.read_at)} IST{' (shared copy)' if broker.shared else ''}"
    if broker.problem:
        return f'<p class="msg warn">{escape(broker.problem)}</p><p class="muted">{said}</p>'
    return f'<p class="muted">{said}</p>'


def _open_orders(view: AccountView, csrf: str) -> str:
    orders = view.broker.open_orders
    if not orders:
        return '<div class="card"><h3>Open orders</h3><p class="muted">None.</p></div>'
    rows = "".join(
        f'<li><div class="row"><span><strong>{escape(str(o.get("txn_type", "")))} {escape(str(o.get("requested_qty", "")))}'
        f' {escape(str(o.get("name") or o.get("security_id") or ""))}</strong> <span class="muted">'
        f'{escape(str(o.get("order_type", "")))} {escape(str(o.get("requested_price") or ""))} · '
        f'{escape(str(o.get("status", "")))} · {escape(str(o["id"]))}</span></span>'
        + _form("cancel", csrf, view.id, f"Cancel {escape(str(o['id']))}", "quiet",
                extra=f'<input type="hidden" name="order_id" value="{escape(str(o["id"]))}">')
        + "</div></li>"
        for o in orders)
    return f'<div class="card"><h3>Open orders</h3><ul class="plain">{rows}</ul></div>'


def _timeline(view: AccountView) -> str:
    if not view.timeline:
        return '<div class="card"><h3>Today\'s alerts</h3><p class="muted">No alert today.</p></div>'
    rows = "".join(_event(item) for item in view.timeline)
    return f'<div class="card"><h3>Today\'s alerts</h3><ol class="timeline">{rows}</ol></div>'


_OUTCOME_CSS = {"placed": "good", "filled": "good", "noop": "good", "queued": "warn", "sent": "warn", "unknown": "warn",
                "paused": "warn", "rejected": "bad", "failed": "bad", "absent": "bad"}


def _event(item: dict[str, Any]) -> str:
    state = str(item.get("state") or "")
    steps = [f"received {_clock_iso(item.get('received_at'))}", state]
    broker_status = str(item.get("broker_status") or "")
    if item.get("traded_qty"):
        steps.append(f"filled {item['traded_qty']} @ {item.get('traded_price')}")
    elif broker_status and broker_status.upper() not in ("INITIATED", "CREATED"):
        steps.append(broker_status.lower())
    message = item.get("exchange_message") or item.get("message") or item.get("follow_message")
    what = " ".join(str(part) for part in (item.get("side"), item.get("qty"), item.get("symbol")) if part)
    css = _OUTCOME_CSS.get("filled" if item.get("traded_qty") else state, "warn")
    return (f'<li><div class="row"><strong>{escape(what or str(item.get("alert_id") or item.get("key")))}</strong>'
            f'<span class="badge {css}">{escape(state)}</span></div>'
            f'<div class="steps muted">{" → ".join(escape(step) for step in steps)}'
            f'{" · " + escape(str(item["order_id"])) if item.get("order_id") else ""}</div>'
            + (f'<div class="steps">{escape(str(message))}</div>' if message else "") + "</li>")


# --- small formats --------------------------------------------------------------------------


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%H:%M:%S")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%d %b %H:%M")


def _clock_iso(text: Any, form: str = "%H:%M:%S") -> str:
    try:
        return datetime.fromisoformat(str(text)).astimezone(IST).strftime(form)
    except ValueError:
        return "?"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _pnl(value: Any) -> str:
    if value is None:
        return "P&L not known"
    text = str(value)
    return f"₹{text}" if text.startswith("-") is False else f"−₹{text[1:]}"
