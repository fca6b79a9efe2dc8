"""`GET /dashboard` and `POST /dashboard`: sign-in, the view, and the actions.

One path for everything (the form field `do` names the action), so the page's relative form
action resolves the same locally (`/dashboard`) and behind API Gateway (`/api/dashboard`).

- GET: signed in → the view; otherwise the sign-in form.
- POST `sign_in`: the admin key through the token page's AdminGuard (same scrypt check, same
  per-address and global lockout), then a session cookie and a redirect to the view.
- Any other POST: a valid session (else 401 and the sign-in form), then its CSRF token (else 403),
  then the form's model (else 400), then the action, through the relay's own services:
  KillSwitch, Flattener, TokenService.store_pasted, Relay.cancel_one. Each action is logged with
  the session's id (never the cookie) and the page answers with its outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chalicelib.dashboard import accounts, render
from chalicelib.dashboard.forms import (
    Cancel,
    FlattenConfirmed,
    FormProblem,
    OnAccount,
    PasteToken,
    SignIn,
    SignOut,
    SignOutEverywhere,
    fields_of,
    form_of,
)
from chalicelib.dashboard.sessions import (
    Session,
    SigningSecret,
    cleared_cookie,
    cookie_from_header,
    csrf_ok,
    csrf_token,
    open_session,
    read_session,
    session_cookie,
)
from chalicelib.errors import RelayError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.services import Services


@dataclass
class Request:
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    source_ip: str | None = None


@dataclass
class Page:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: dict(render.HEADERS))


def serve(services: Services, request: Request, now: float | None = None) -> Page:
    now = time.time() if now is None else now
    secret = SigningSecret(services.parameters, services.settings.dashboard_secret_parameter)
    try:
        if request.method == "GET":
            return _get(services, secret, request, now)
        return _post(services, secret, request, now)
    except FormProblem as problem:
        return Page(problem.status, render.sign_in_page(problem.message))
    except RelayError as error:
        logger.warning("dashboard refused", extra={"event": "dashboard", "outcome": error.error, "cause": error.cause})
        return Page(error.status_code, render.sign_in_page(error.public_message))


def _session(secret: SigningSecret, request: Request, now: float) -> Session | None:
    value = cookie_from_header(request.headers.get("cookie"))
    return read_session(secret.value(), value, now) if value else None


def _get(services: Services, secret: SigningSecret, request: Request, now: float) -> Page:
    session = _session(secret, request, now)
    if session is None:
        return Page(200, render.sign_in_page())
    return _view(services, secret, session, now)


def _view(services: Services, secret: SigningSecret, session: Session, now: float, message: str | None = None,
          ok: bool = True, status: int = 200) -> Page:
    views = [accounts.view(account, now) for account in accounts.accounts(services)]
    return Page(status, render.dashboard_page(views, services.settings.stage, session.id,
                                              csrf_token(secret.value(), session), now, message, ok))


def _post(services: Services, secret: SigningSecret, request: Request, now: float) -> Page:
    if not _same_origin(request):
        _log("refused", None, outcome="cross_origin", origin=request.headers.get("origin"), host=request.headers.get("host"))
        return Page(403, render.sign_in_page("This form was sent from another site: nothing was done."))
    fields = fields_of(request.body)
    if fields.get("do") == "sign_in":
        return _sign_in(services, secret, form_of(fields), request, now)
    session = _session(secret, request, now)
    if session is None:
        _log("refused", None, fields.get("do"), outcome="no_session")
        return Page(401, render.sign_in_page("Your session has ended (expired, signed out or revoked): sign in again."))
    if not csrf_ok(secret.value(), session, fields.get("csrf")):
        _log("refused", session, fields.get("do"), outcome="csrf")
        return _view(services, secret, session, now, "This form is not from your current session (CSRF check "
                     "failed): nothing was done. Use the forms on this page.", ok=False, status=403)
    try:
        return _signed_post(services, secret, session, form_of(fields), now)
    except FormProblem as problem:
        _log(str(fields.get("do")), session, outcome="refused")
        return _view(services, secret, session, now, f"Not done: {problem.message}", ok=False, status=problem.status)
    except RelayError as error:
        _log(str(fields.get("do")), session, outcome=error.error)
        return _view(services, secret, session, now, f"Not done: {error.public_message}", ok=False,
                     status=error.status_code)


def _signed_post(services: Services, secret: SigningSecret, session: Session, form: object, now: float) -> Page:
    if isinstance(form, SignOut | SignOutEverywhere):
        if isinstance(form, SignOutEverywhere):
            secret.rotate()  # every session signed with the old secret ends
        _log(str(form.do), session)
        return Page(303, "", {**render.HEADERS, "Location": render.FORM_ACTION, "Set-Cookie": cleared_cookie()})
    account = accounts.find(services, str(getattr(form, "account", "")))
    if account is None:
        raise FormProblem(400, "field 'account': no such account in this stage")
    if isinstance(form, OnAccount) and form.do == "flatten":
        label = accounts.view(account, now).label
        return Page(200, render.confirm_flatten_page(label, account.id, csrf_token(secret.value(), session)))
    return _view(services, secret, session, now, _act(account, form, session, now))


def _same_origin(request: Request) -> bool:
    """A browser names the site a form came from (`Origin`; the page's referrer policy is
    same-origin so that it does): one from another site is refused before anything else, sign-in
    included (which has no session to carry a CSRF token yet)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":  # not said (older browsers, scripts), or withheld by a referrer policy
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _sign_in(services: Services, secret: SigningSecret, form: object, request: Request, now: float) -> Page:
    assert isinstance(form, SignIn)
    services.admin.check(form.admin_key or None, request.source_ip, now)  # 401 / 429, as the token page
    session, value = open_session(secret.value(), now)
    _log("sign_in", session, source_ip=request.source_ip)
    return Page(303, "", {**render.HEADERS, "Location": render.FORM_ACTION,
                          "Set-Cookie": session_cookie(value, session, now)})


def _act(account: accounts.Account, form: object, session: Session, now: float) -> str:
    own = account.own
    relay = own.relay
    who = f"dashboard session {session.id}"
    if isinstance(form, OnAccount) and form.do == "pause":
        relay.switch.pause(now, reason=who)
        _log("pause", session, account=account.id)
        return "Paused: nothing reaches INDstocks until you resume."
    if isinstance(form, OnAccount):  # resume
        relay.switch.resume(now)
        _log("resume", session, account=account.id)
        return "Resumed: alerts are sent again."
    if isinstance(form, FlattenConfirmed):
        from chalicelib.flatten import Flattener

        result = Flattener(relay, own.ledger).run(now, scope=form.scope)
        account.reads.forget()
        _log("flatten", session, account=account.id, scope=form.scope.value,
             cancels=len(result["cancels"]), closes=len(result["closes"]))
        said = [f"cancel {c['order_id']}: {c['status']}" for c in result["cancels"]] + \
               [f"close {c['security_id']} ({c['net']}): {c['status']}" for c in result["closes"]]
        return f"Flattened ({form.scope.value}); paused. " + ("; ".join(said) or "Nothing was open.")
    if isinstance(form, PasteToken):
        stored = own.token_service.store_pasted(form.token, now)
        account.reads.forget()
        _log("paste_token", session, account=account.id)
        return f"Token saved for {stored.account_name}. It expires {stored.as_dict()['expires_at_ist']}."
    assert isinstance(form, Cancel)
    return _cancel(account, form, session)


def _cancel(account: accounts.Account, form: Cancel, session: Session) -> str:
    relay = account.own.relay
    token = relay.tokens.current()
    book = relay.broker.order_book(token)  # afresh: the cancel needs the order as it stands now
    row = next((row for row in book if str(row.get("id")) == form.order_id), None)
    from chalicelib.positions import OPEN_STATUSES

    if row is None or str(row.get("status", "")).upper() not in OPEN_STATUSES:
        raise FormProblem(409, f"order {form.order_id} is not open in the order book (filled, cancelled or unknown)")
    deadline = relay.deadline(answer_budget=relay.settings.function_timeout_seconds)
    outcome = relay.cancel_one(row, token, deadline, book=book)
    account.reads.forget()
    _log("cancel", session, account=account.id, order_id=form.order_id, status=outcome["status"])
    said = f"Cancel {form.order_id}: {outcome['status']}"
    return said + (f" ({outcome['message']})" if outcome.get("message") else "")


def _log(action: str, session: Session | None, do: str | None = None, **fields: object) -> None:
    logger.warning("dashboard " + action, extra={"event": "dashboard", "action": do or action,
                                                "session_id": session.id if session else None, **fields})
