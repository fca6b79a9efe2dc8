"""The phone dashboard (`GET`/`POST /dashboard`): today's orders, the token, positions and the
kill switch of each account of the stage, behind the admin key.

Its public face is `serve(services, Request(...)) -> Page`; app.py only passes the request in
and the page out. Inside: `sessions` (signed cookie, CSRF, the signing secret in SSM), `forms`
(one model per action), `accounts` (what a view shows, per account), `broker_reads` (the cached
INDstocks reads), `render` (HTML, CSP) and `handler` (sign-in, view, actions).
"""

from chalicelib.dashboard.handler import Page, Request, serve

__all__ = ["Page", "Request", "serve"]
