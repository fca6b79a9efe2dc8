"""Dashboard sessions, pure: the signed cookie, its attributes, expiry, forgery, revocation by
rotating the signing secret, the CSRF token tied to its session; the forms' models."""

from __future__ import annotations

import pytest

from chalicelib.dashboard.forms import MAX_BODY_BYTES, FormProblem, PasteToken, fields_of, form_of
from chalicelib.dashboard.sessions import (
    COOKIE_NAME,
    SESSION_SECONDS,
    cleared_cookie,
    cookie_from_header,
    csrf_ok,
    csrf_token,
    open_session,
    read_session,
    session_cookie,
)

SECRET = b"signing-secret-one-0123456789abcdef"
OTHER = b"signing-secret-two-0123456789abcdef"
NOW = 1_796_000_000.0


def test_a_fresh_session_reads_back_until_it_expires():
    session, value = open_session(SECRET, NOW)
    assert read_session(SECRET, value, NOW) == session
    assert read_session(SECRET, value, NOW + SESSION_SECONDS - 1) == session
    assert read_session(SECRET, value, NOW + SESSION_SECONDS) is None
    assert session.expires - session.issued == SESSION_SECONDS == 12 * 3600


def test_a_session_never_outlives_twelve_hours_even_when_asked():
    session, value = open_session(SECRET, NOW, lifetime=10 * SESSION_SECONDS)
    assert session.expires - session.issued == SESSION_SECONDS


def test_a_rotated_secret_revokes_every_session():
    _, value = open_session(SECRET, NOW)
    assert read_session(OTHER, value, NOW) is None


@pytest.mark.parametrize("tamper", [
    lambda v: v.replace(v.split(".")[3], str(int(v.split(".")[3]) + 3600)),  # a longer life
    lambda v: v.replace(v.split(".")[1], "0" * 16),  # another session's id
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # the MAC
    lambda v: "v2" + v[2:],
    lambda v: v + ".extra",
    lambda v: "",
])
def test_a_tampered_cookie_is_no_session(tamper):
    _, value = open_session(SECRET, NOW)
    assert read_session(SECRET, tamper(value), NOW) is None


def test_a_session_signed_far_in_the_future_or_too_long_is_refused():
    _, value = open_session(SECRET, NOW + 3600)
    assert read_session(SECRET, value, NOW) is None


def test_the_cookie_is_host_only_http_only_secure_strict_and_bounded():
    session, value = open_session(SECRET, NOW)
    cookie = session_cookie(value, session, NOW + 3600)
    parts = [part.strip() for part in cookie.split(";")]
    assert parts[0] == f"{COOKIE_NAME}={value}" and COOKIE_NAME.startswith("__Host-")
    assert set(parts[1:]) == {"Path=/", f"Max-Age={SESSION_SECONDS - 3600}", "HttpOnly", "Secure", "SameSite=Strict"}
    assert "Max-Age=0" in cleared_cookie() and "HttpOnly" in cleared_cookie()


def test_the_cookie_is_found_among_others():
    assert cookie_from_header(f"a=1; {COOKIE_NAME}=v1.x; b=2") == "v1.x"
    assert cookie_from_header("a=1") is None and cookie_from_header(None) is None


def test_csrf_is_tied_to_its_session_and_secret():
    mine, _ = open_session(SECRET, NOW)
    theirs, _ = open_session(SECRET, NOW)
    token = csrf_token(SECRET, mine)
    assert csrf_ok(SECRET, mine, token)
    assert not csrf_ok(SECRET, theirs, token)
    assert not csrf_ok(OTHER, mine, token)
    assert not csrf_ok(SECRET, mine, None) and not csrf_ok(SECRET, mine, "")


def test_forms_refuse_unknown_fields_repeats_and_oversize_bodies():
    with pytest.raises(FormProblem, match="'extra'"):
        form_of({"do": "pause", "csrf": "x", "extra": "1"})
    with pytest.raises(FormProblem, match="more than once"):
        fields_of(b"do=pause&do=resume")
    with pytest.raises(FormProblem) as too_big:
        fields_of(b"x" * (MAX_BODY_BYTES + 1))
    assert too_big.value.status == 413
    with pytest.raises(FormProblem, match="must be one of"):
        form_of({"do": "drop_tables"})


def test_a_form_error_never_echoes_the_value():
    with pytest.raises(FormProblem) as problem:
        form_of({"do": "paste_token", "csrf": "x", "token": "t" * 5000})
    assert "ttttt" not in problem.value.message and "'token'" in problem.value.message
    assert "tok-secret-1" not in repr(PasteToken(do="paste_token", csrf="x", account="primary", token="tok-secret-1"))
