"""SSM-backed token and webhook secret, through boto3 against moto."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.errors import DependencyUnavailable, NotConfigured, TokenUnavailable
from chalicelib.tokens import ParameterStore, TokenStore, WebhookSecret
from tests.conftest import SECRET_PARAMETER, TOKEN_PARAMETER, seed


@pytest.fixture
def parameters(aws):
    return ParameterStore(lambda: boto3.client("ssm"))


def test_reads_the_secure_string_decrypted(ssm, parameters):
    seed(ssm, token="tok-1")
    assert TokenStore(parameters, TOKEN_PARAMETER, 60).current() == "tok-1"


def test_cached_until_forced(ssm, parameters):
    seed(ssm, token="tok-1")
    tokens = TokenStore(parameters, TOKEN_PARAMETER, 60)
    assert tokens.current() == "tok-1"
    seed(ssm, token="tok-2")
    assert tokens.current() == "tok-1"  # within max age
    assert tokens.reread() == "tok-2"
    assert tokens.current() == "tok-2"


def test_zero_max_age_always_reads(ssm, parameters):
    seed(ssm, token="tok-1")
    tokens = TokenStore(parameters, TOKEN_PARAMETER, 0)
    tokens.current()
    seed(ssm, token="tok-2")
    assert tokens.current() == "tok-2"


def test_missing_token_means_renew(parameters):
    with pytest.raises(TokenUnavailable) as caught:
        TokenStore(parameters, TOKEN_PARAMETER, 60).current()
    assert caught.value.status_code == 503 and "renew" in caught.value.public_message


def test_blank_token_means_renew(ssm, parameters):
    seed(ssm, token=" ")
    with pytest.raises(TokenUnavailable):
        TokenStore(parameters, TOKEN_PARAMETER, 60).current()


def test_missing_webhook_secret_is_not_configured(parameters):
    with pytest.raises(NotConfigured):
        WebhookSecret(parameters, SECRET_PARAMETER, 300).value()


def test_put_secure_overwrites_and_clears_the_cache(ssm, parameters):
    seed(ssm, token="tok-1")
    tokens = TokenStore(parameters, TOKEN_PARAMETER, 60)
    assert tokens.current() == "tok-1"
    parameters.put_secure(TOKEN_PARAMETER, "tok-2")
    assert tokens.current() == "tok-2"
    stored = ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]
    assert (stored["Type"], stored["Value"], stored["Version"]) == ("SecureString", "tok-2", 2)


def test_ssm_outage_is_a_dependency_error(aws):
    from botocore.config import Config

    broken = ParameterStore(lambda: boto3.client("ssm", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 0}, connect_timeout=0.2)))
    with pytest.raises(DependencyUnavailable):
        TokenStore(broken, TOKEN_PARAMETER, 60).current()


def test_no_client_is_created_before_first_use():
    created = []
    ParameterStore(lambda: created.append(1))
    assert created == []
