"""Order writes over real TLS on loopback: a failure counts as "not sent" only when it came before
any request byte was written (refused connect, failed handshake); a broken reply after the body
went out is an unknown outcome, whatever exception class urllib3 picks for it."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from chalicelib import services
from chalicelib.broker import BrokerClient, OrderWrite, Outcome
from tests.conftest import ORDERS_TABLE, SEEDED_TOKEN

ORDER = OrderWrite("/order", {
    "txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY", "order_type": "MARKET",
    "validity": "DAY", "security_id": "3045", "qty": 1, "algo_id": "99999", "remarks": "tvr:tls",
})  # fmt: skip

# What the server sends instead of a reply, after reading the whole order.
CORRUPT_REPLIES = {
    # An application-data record whose ciphertext is noise: the client's MAC check fails.
    "bad_record_mac": b"\x17\x03\x03\x00\x20" + bytes(range(32)),
    # Plain text where a TLS record belongs: the record layer refuses it.
    "plaintext": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
}


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path


def _certificate(directory: Path, name: str) -> Certificate:
    """A self-signed certificate for 127.0.0.1 that is its own CA, so a client can trust it alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    files = Certificate(directory / f"{name}.pem", directory / f"{name}.key")
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return files


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    return _certificate(directory, "broker"), _certificate(directory, "stranger")


class _Handler(BaseHTTPRequestHandler):
    server: TlsBroker

    def log_message(self, *_args):  # the request line is enough noise; headers hold the token
        pass

    def do_GET(self):
        if self.server.upstream is None:
            self._reply(404, b"{}")
            return
        reply = requests.get(self.server.upstream + self.path, timeout=5,
                             headers={"Authorization": self.headers.get("Authorization", "")})
        self._reply(reply.status_code, reply.content, reply.headers.get("Content-Type", "application/json"))

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))  # the whole order, every byte
        self.server.received.append((self.path, body))
        if self.server.forward_orders:  # the broker takes the order ...
            requests.post(self.server.upstream + self.path, data=body, timeout=5,
                          headers={"Authorization": self.headers.get("Authorization", ""),
                                   "Content-Type": "application/json"})
        # ... and its reply arrives broken: raw bytes under the TLS layer, then the end.
        with socket.fromfd(self.connection.fileno(), socket.AF_INET, socket.SOCK_STREAM) as raw:
            raw.sendall(self.server.corrupt_reply)
        self.close_connection = True

    def _reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class TlsBroker(ThreadingHTTPServer):
    """HTTPS on loopback: reads every order and answers it with a corrupt record; forwards GETs
    (and, with `forward_orders`, the orders too) to `upstream`, the simulator."""

    daemon_threads = True

    def __init__(self, cert: Certificate, corrupt_reply: bytes, upstream: str | None = None, forward_orders=False):
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert.cert_file, cert.key_file)
        # The handshake then runs in the handler's thread, not in the accept loop.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.corrupt_reply, self.upstream, self.forward_orders = corrupt_reply, upstream, forward_orders
        self.received: list[tuple[str, bytes]] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True)

    def handle_error(self, request, client_address):  # failed handshakes are what some tests want
        pass

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self._thread.join()


def trusting(cert: Certificate):
    def session_factory() -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # else a REQUESTS_CA_BUNDLE in the environment overrides `verify`
        session.verify = str(cert.cert_file)
        return session

    return session_factory


def broker_client(url, cert: Certificate) -> BrokerClient:
    return BrokerClient(url, connect_timeout=1, read_timeout=3, session_factory=trusting(cert))


@pytest.mark.parametrize("corruption", sorted(CORRUPT_REPLIES))
def test_a_corrupt_reply_after_the_order_went_out_is_unknown(certs, corruption):
    broker_cert, _ = certs
    with TlsBroker(broker_cert, CORRUPT_REPLIES[corruption]) as server:
        result = broker_client(server.url, broker_cert).place(SEEDED_TOKEN, ORDER)
    assert result.outcome is Outcome.UNKNOWN, result
    assert [path for path, _ in server.received] == ["/order"]  # read in full: the broker may have acted on it


class _ClosesMidHandshake:
    """Reads the client's hello, then hangs up: the handshake never completes."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(4096)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failed_handshake_or_connect_is_not_sent(certs):
    broker_cert, stranger_cert = certs
    with TlsBroker(stranger_cert, b"") as untrusted:  # a certificate the client does not trust
        assert broker_client(untrusted.url, broker_cert).place(SEEDED_TOKEN, ORDER).outcome is Outcome.NOT_SENT
        assert untrusted.received == []
    hang_up = _ClosesMidHandshake()
    with hang_up.listener:
        assert broker_client(hang_up.url, broker_cert).place(SEEDED_TOKEN, ORDER).outcome is Outcome.NOT_SENT
    refused = f"https://127.0.0.1:{_free_port()}"
    assert broker_client(refused, broker_cert).place(SEEDED_TOKEN, ORDER).outcome is Outcome.NOT_SENT


def test_a_failure_the_client_could_not_trace_is_unknown():
    # A session whose own adapter serves the broker's URL: nothing proves the order stayed home.
    def own_adapter() -> requests.Session:
        session = requests.Session()
        session.mount(refused, HTTPAdapter())
        return session

    refused = f"http://127.0.0.1:{_free_port()}"
    broker = BrokerClient(refused, connect_timeout=1, read_timeout=1, session_factory=own_adapter)
    assert broker.place(SEEDED_TOKEN, ORDER).outcome is Outcome.UNKNOWN


def _ledger_item(alert_id):
    return boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": f"id:{alert_id}"}})["Item"]


@pytest.mark.parametrize("broker_took_it", [False, True])
def test_a_corrupt_reply_never_frees_the_alert_for_a_second_order(stack, certs, monkeypatch, broker_took_it):
    broker_cert, _ = certs
    # The relay's own session (built by services) trusts the test certificate through requests' setting.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(broker_cert.cert_file))
    with TlsBroker(broker_cert, CORRUPT_REPLIES["bad_record_mac"], stack.simulator.url, broker_took_it) as server:
        # A read timeout long enough that the corrupt record, not a slow forward, ends the write.
        settings = stack.settings.model_copy(update={"indstocks_base_url": server.url, "broker_read_timeout": 3.0})
        services.install(services.build(settings))
        alert = stack.alert(alert_id=f"tls-{broker_took_it}")
        first = stack.post(alert)
        state = _ledger_item(alert["alert_id"])["state"]["S"]
        again = stack.post(alert)
    expected = "placed" if broker_took_it else "unknown"  # found in the book, or still a question
    assert first.json_body["status"] == expected and state == expected, first.body
    assert first.status_code == (200 if broker_took_it else 502), first.body  # 504 would be a timeout
    assert again.status_code == 200 and again.json_body["status"] == "duplicate", again.body
    assert [path for path, _ in server.received] == ["/order"]
    assert len(stack.simulator.order_writes()) == (1 if broker_took_it else 0)
