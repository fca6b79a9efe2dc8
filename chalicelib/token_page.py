"""The token page: one self-contained, phone-friendly HTML form (admin key + token).

No external assets and no script. The only inline style is allowed by its hash in the
Content-Security-Policy, so nothing injected into the page could run or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html

_STYLE = """
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;padding:24px 18px;font-size:18px;line-height:1.45;max-width:34rem;margin-inline:auto}
h1{font-size:1.45rem;margin:0 0 .3rem}
p.hint{margin:0 0 1.2rem;opacity:.8;font-size:1rem}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input,textarea,select{box-sizing:border-box;width:100%;font:inherit;padding:.7rem;border:1px solid #8a8a8a;border-radius:10px}
textarea{min-height:7.5rem;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9rem;word-break:break-all}
button{margin-top:1.3rem;width:100%;font:inherit;font-weight:700;padding:.9rem;border:0;border-radius:10px;background:#0b6e4f;color:#fff}
.msg{padding:.85rem 1rem;border-radius:10px;margin:0 0 1rem;font-size:1rem}
.ok{background:#dff5e8;color:#0a4a2f}
.err{background:#fde2e1;color:#7a1410}
""".strip()

_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def render(message: str | None = None, *, ok: bool = False, accounts: tuple[str, ...] = ()) -> str:
    """The page, optionally with one outcome message. Never echoes the key or the token. With
    several accounts in the stage, the first field chooses whose token it is."""
    choose = ""
    if len(accounts) > 1:
        options = "".join(f'<option value="{html.escape(name)}">{html.escape(name)}</option>' for name in accounts)
        choose = f'<label for="account">Account</label>\n<select id="account" name="account" required>{options}</select>\n'
    notice = ""
    if message:
        css = "ok" if ok else "err"
        notice = f'<p class="msg {css}" role="status" id="message">{html.escape(message)}</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>INDstocks token · indstocks-relay</title>
<style>{_STYLE}</style></head>
<body><main>
<h1>Renew the INDstocks token</h1>
<p class="hint">Paste today's access token from INDstocks. The relay checks it with INDstocks before storing it.</p>
{notice}
<form method="post" action="token" autocomplete="off">
{choose}<label for="admin_key">Admin key</label>
<input id="admin_key" name="admin_key" type="password" autocomplete="current-password" required>
<label for="token">Access token</label>
<textarea id="token" name="token" required spellcheck="false" autocapitalize="off" autocorrect="off"></textarea>
<button type="submit">Save token</button>
</form>
</main></body></html>
"""
