"""Where the registry's outbound calls (webhooks) may go, and the one way they get there.

A subscriber names a URL; a registry that POSTs to whatever it is told becomes a scanner of the network it sits
in (Redis on 127.0.0.1:6379, the cloud metadata service on 169.254.169.254, a private admin panel). So:

- ``destination(url)`` parses the URL strictly (http or https, no userinfo, no ambiguous numeric host such as
  ``2130706433``, ``0x7f.1`` or ``0177.0.0.1``), resolves the name and refuses unless every address it resolves to
  is globally routable (``refusal``: not private, loopback, link-local, shared, reserved, multicast or
  unspecified; IPv6 forms that carry an IPv4 address, mapped, compatible, 6to4, Teredo and NAT64, are judged by
  that address). The operator's ``WEBHOOK_ALLOWED_HOSTS`` (names, addresses or CIDRs) admits internal receivers.
  It runs when a subscription is written (a 400 at ``/url``) and again before every attempt.
- ``post(destination, ...)`` connects to exactly the addresses that were checked (no second DNS lookup, so a
  name cannot rebind to an internal address between check and connect), while the Host header, TLS SNI and the
  certificate check still use the name. Each attempt has one total deadline (the name's lookup, connect, TLS,
  request, response head and body together; a receiver that drips a byte a second, or whose name server answers
  slowly, is cut at the deadline), and only a bounded prefix of the response is read.
- What a subscriber is told of a failure is its class only (``timeout``, ``connection failed``, ``TLS error``,
  ``HTTP <status>``), so a closed port and a port that speaks another protocol read the same.

Stricter than MLflow's ``mlflow/webhooks/ssrf.py``, which checks the peer of a socket after ``connect()``: here an
address is refused before any packet is sent to it, and the peer is checked after connecting as well.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# Only this much of a response is read; the status line and the headers are what a delivery needs.
RESPONSE_PREFIX_BYTES = 64 * 1024
MAX_ADDRESSES = 16
# A label of hex digits, or digits only, as the last label: what inet_aton reads as a number (2130706433, 0x7f.1).
NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")
ALLOWED_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The resolver, by name so tests can stand in for DNS (they never send a query).
getaddrinfo = socket.getaddrinfo


class Refused(Exception):
    """The destination is not one the registry sends to; the message says why (it names no port state)."""


class DeliveryFailed(Exception):
    """An attempt failed; the message is the failure's class only."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # the name (or literal) for Host, SNI and the certificate
    port: int
    target: str  # path and query
    addresses: tuple[IPAddress, ...]  # checked; the only ones connected to


def parse_allow_list(entries: list[str]) -> tuple[frozenset[str], tuple]:
    """``WEBHOOK_ALLOWED_HOSTS`` as (names, networks); a malformed entry is a ValueError (settings turn it into
    ImproperlyConfigured)."""
    names, networks = set(), []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not ALLOWED_NAME.fullmatch(entry):
            raise ValueError(f"{raw!r} is not a host name, an IP address or a CIDR")
        names.add(entry)
    return frozenset(names), tuple(networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.extend(address.teredo)
    if address in ipaddress.ip_network("64:ff9b::/96") or address in ipaddress.ip_network("64:ff9b:1::/48"):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not globally routable, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "an address with a zone"
        if address in ipaddress.ip_network("::/96"):  # IPv4-compatible (deprecated), ::, ::1
            return "an IPv4-compatible, unspecified or loopback address"
        if address.is_site_local:
            return "a site-local address"
        for inner in _embedded_ipv4(address):
            reason = refusal(inner)
            if reason:
                return f"an IPv6 form of {reason}"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None


def _allowed(host: str, address: IPAddress) -> bool:
    names, networks = parse_allow_list(settings.WEBHOOK_ALLOWED_HOSTS)
    if host.lower() in names:
        return True
    plain = address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address
    return any(plain in network or address in network for network in networks)


def _host_literal(host: str, bracketed: bool) -> IPAddress | None:
    """The address a host names literally, or None for a DNS name; an ambiguous numeric form is refused."""
    if bracketed:
        if "%" in host:
            raise Refused("The URL's IPv6 address has a zone; use a global address.")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused("The URL's IPv6 address is not valid.") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    if NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        raise Refused(
            "The URL's host is a number but not a dotted IPv4 address (a.b.c.d); write the address or a name."
        )
    return None


def _split(url: str) -> tuple[str, str, bool, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        raise Refused("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("Only http and https URLs are accepted.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("The URL has credentials (user:password@); leave them out (receivers verify the signature).")
    if not host or port == 0:
        raise Refused("The URL has no host, or port 0.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, "[" in parts.netloc, port or (443 if scheme == "https" else 80), target


def _lookup(host: str, port: int, within: float | None) -> list:
    """getaddrinfo, given at most ``within`` seconds (None: as long as the resolver takes). A lookup cannot be
    interrupted, so one past its time is left to finish on its own thread and its answer dropped."""
    if within is None:
        return getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    answer: dict = {}

    def look() -> None:
        try:
            answer["infos"] = getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except Exception as error:  # raised again on the caller's thread
            answer["error"] = error

    lookup = threading.Thread(target=look, name="webhook-lookup", daemon=True)
    lookup.start()
    lookup.join(max(within, 0))
    if lookup.is_alive():
        raise DeliveryFailed("timeout")
    if "error" in answer:
        raise answer["error"]
    return answer["infos"]


def resolve(host: str, port: int, *, within: float | None = None) -> list[IPAddress]:
    """The addresses a name resolves to for TCP (bounded, in the resolver's order), looked up within ``within``
    seconds (``DeliveryFailed("timeout")`` past them)."""
    try:
        infos = _lookup(host, port, within)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"The host {host!r} does not resolve.") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"The host {host!r} does not resolve.")
    return addresses[:MAX_ADDRESSES]


def destination(url: str, *, resolve_within: float | None = None) -> Destination:
    """The checked destination of ``url``: every address it resolves to is allowed, or ``Refused``; an attempt
    passes what remains of its deadline as ``resolve_within``."""
    scheme, host, bracketed, port, target = _split(url)
    literal = _host_literal(host, bracketed)
    addresses = [literal] if literal is not None else resolve(host, port, within=resolve_within)
    for address in addresses:
        reason = refusal(address)
        if reason and not _allowed(host, address):
            named = "" if literal is not None else f" {host!r} resolves to"
            raise Refused(
                f"The destination is not globally routable:{named} {reason}. Webhooks are only sent to public "
                "addresses unless the operator allows the host (WEBHOOK_ALLOWED_HOSTS)."
            )
    return Destination(scheme, host, port, target, tuple(addresses))


def _connect(dest: Destination, until: float) -> socket.socket:
    """A TCP connection to one of the checked addresses (never a fresh lookup of the name), all tries together
    within the attempt's deadline (``until``, on the monotonic clock)."""
    for address in dest.addresses:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline")
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect((str(address), dest.port))
        except OSError:
            sock.close()
            if address == dest.addresses[-1]:
                raise
            continue
        if ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0]) != address:  # reached what was checked
            sock.close()
            raise Refused("The connection reached another address than the one checked.")
        return sock
    raise OSError("no address")


class _Deadline:
    """Shuts the attempt's socket down when the total deadline passes, whatever phase it is in."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.until = time.monotonic() + seconds
        self.expired = False
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True

    def attach(self, sock: socket.socket) -> None:
        with self.lock:
            self.sock = sock
            if self.expired:
                self._shutdown()

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self.sock is not None:
            try:
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the OS socket, under any TLS layer
            except OSError:
                pass


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, dest: Destination, deadline: _Deadline):
        super().__init__(dest.host, dest.port, timeout=deadline.seconds)
        self.dest, self.on_socket, self.until = dest, deadline.attach, deadline.until

    def connect(self):
        self.sock = _connect(self.dest, self.until)
        self.on_socket(self.sock)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, dest: Destination, deadline: _Deadline):
        self.tls = ssl.create_default_context()
        super().__init__(dest.host, dest.port, timeout=deadline.seconds, context=self.tls)
        self.dest, self.on_socket, self.until = dest, deadline.attach, deadline.until

    def connect(self):
        sock = _connect(self.dest, self.until)
        self.on_socket(sock)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.dest.host)
        self.on_socket(self.sock)


def post(dest: Destination, body: bytes, headers: dict[str, str], *, deadline_seconds: float) -> int:
    """POST ``body`` to the checked destination within ``deadline_seconds`` in all; returns the status code after
    reading at most ``RESPONSE_PREFIX_BYTES`` of the response, or raises ``DeliveryFailed`` with the failure's
    class."""
    deadline = _Deadline(deadline_seconds)
    connection_class = _PinnedHTTPS if dest.scheme == "https" else _PinnedHTTP
    conn = connection_class(dest, deadline)
    deadline.timer.start()
    try:
        conn.request("POST", dest.target, body=body, headers=headers)
        response = conn.getresponse()
        response.read(RESPONSE_PREFIX_BYTES)
        status = response.status
    except Refused:
        raise
    except (ssl.SSLError, ssl.CertificateError):
        raise DeliveryFailed("timeout" if deadline.expired else "TLS error") from None
    except TimeoutError:
        raise DeliveryFailed("timeout") from None
    except (OSError, http.client.HTTPException, ValueError):
        expired = deadline.expired or time.monotonic() >= deadline.until
        raise DeliveryFailed("timeout" if expired else "connection failed") from None
    finally:
        deadline.timer.cancel()
        conn.close()
    if deadline.expired:
        raise DeliveryFailed("timeout")
    return status
