"""A real SMTP server (aiosmtpd) on 127.0.0.1 for Folio's black-box tests.

    python smtp_sink.py --out DIR [--tls none|starttls|implicit]
                        [--user U --password P] [--reject SUBSTR] [--defer-first K]

Binds an ephemeral port and prints one JSON line on stdout:
    {"port": P, "ca": "DIR/ca.pem" or null}
With TLS, DIR/ca.pem is the CA that signed the server's certificate
(localhost, 127.0.0.1): trust it as a root.

Each accepted message becomes DIR/<seq:06>.eml (the exact DATA bytes, after
dot-unstuffing) with DIR/<seq:06>.json beside it:
    {"mail_from", "rcpt_tos", "auth_user", "tls"}
Both are renamed into place, the .json first, so a test that sees the .eml
can read both. Stops cleanly on SIGTERM/SIGINT.

The interpreter with aiosmtpd and cryptography: `bash infra/pytools.sh`.
"""

import argparse
import asyncio
import datetime
import hmac
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def make_certs(out):
    """A CA and a leaf for localhost/127.0.0.1 signed by it; returns the TLS
    server context. webpki (rustls) refuses a self-signed end-entity
    certificate as its own trust anchor, hence the two."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Folio test SMTP CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_path = os.path.join(out, "ca.pem")
    chain_path = os.path.join(out, "server.pem")
    key_path = os.path.join(out, "server-key.pem")
    write_atomic(ca_path, ca.public_bytes(pem))
    write_atomic(chain_path, leaf.public_bytes(pem) + ca.public_bytes(pem))
    write_atomic(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain_path, key_path)
    return ctx, ca_path


class Sink:
    def __init__(self, args):
        self.args = args
        self.seq = 0
        self.data_commands = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.reject and self.args.reject in address:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.data_commands <= self.args.defer_first:
            return "451 4.3.0 try again later"
        self.seq += 1
        base = os.path.join(self.args.out, f"{self.seq:06}")
        # The authenticator below stores the LoginPassword it accepted.
        login = session.auth_data.login if session.authenticated else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": login.decode("utf-8", "replace") if login is not None else None,
            # Covers STARTTLS and implicit TLS alike (session.ssl is set only after STARTTLS).
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        }
        write_atomic(base + ".json", json.dumps(meta).encode())
        write_atomic(base + ".eml", envelope.original_content)
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and hmac.compare_digest(auth_data.login, user)
            and hmac.compare_digest(auth_data.password, password)
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def serve(args):
    tls_ctx, ca_path = (None, None) if args.tls == "none" else make_certs(args.out)
    handler = Sink(args)
    smtp_kwargs = dict(
        hostname="localhost",  # else every connection calls socket.getfqdn()
        enable_SMTPUTF8=True,
        # STARTTLS is the only way to TLS in starttls mode; elsewhere the
        # session is plain (loopback) or TLS from the first byte, which
        # aiosmtpd does not count as TLS for this check.
        auth_require_tls=args.tls == "starttls",
    )
    if args.tls == "starttls":
        smtp_kwargs.update(tls_context=tls_ctx, require_starttls=True)
    if args.user is not None:
        smtp_kwargs.update(
            auth_required=True,
            authenticator=authenticator(args.user.encode(), args.password.encode()),
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **smtp_kwargs),
        host="127.0.0.1",
        port=0,
        ssl=tls_ctx if args.tls == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"port": port, "ca": ca_path}), flush=True)
    await stop.wait()
    # Open sessions are cancelled by asyncio.run; not waiting for clients.
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--reject", help="refuse RCPT TO addresses containing this")
    p.add_argument("--defer-first", type=int, default=0, metavar="K",
                   help="answer the first K messages with 451")
    args = p.parse_args()
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)

    # AUTH without aiosmtpd's TLS check (plain loopback, implicit TLS) is intended.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
