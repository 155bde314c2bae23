"""Where a webhook may send: public http(s) addresses only, checked at creation and delivery.

An analyst could register http://169.254.169.254/latest/meta-data/ or http://localhost:6379/
and read status and timing back from the delivery log: a blind port scanner inside the
network. The policy (one function for both moments):

- scheme http or https; no user:password in the URL; a host is present;
- a host written as an odd numeric form (0x7f000001, 2130706433, 0177.0.0.1, 127.1) is
  refused outright: C resolvers read them as IPv4 addresses while they look like names;
- every address the host resolves to must be global unicast: private, loopback, link-local,
  multicast, reserved, unspecified, shared (100.64/10) and documentation ranges are refused,
  also when wrapped in an IPv6 form (IPv4-mapped ::ffff:a.b.c.d, 6to4, Teredo, NAT64);
- `CERFLOW_WEBHOOK_ALLOWED_TARGETS` (host names and CIDRs) lets an operator allow internal
  receivers on purpose.

At creation a name that does not resolve (yet) is accepted; delivery is what counts: the
sender resolves again, checks every address and connects to the vetted address itself (the
Host header and TLS SNI keep the name), so a DNS answer that changes after the check
(rebinding) cannot redirect it. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from cerflow.errors import CerflowError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookURLRefused(CerflowError):
    """The webhook URL points somewhere cerflow must not send to."""

    status_code = 422


@dataclass(frozen=True, slots=True)
class Target:
    """A vetted destination: the URL as given and the address to connect to."""

    url: str
    host: str
    port: int
    address: IPAddress | None  # None: allowlisted by name, connect by name


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Global unicast, also for any IPv4 address an IPv6 form carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
    return bool(
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
    )


def _odd_numeric(host: str) -> bool:
    """True for IPv4 spellings only legacy parsers accept (hex, octal, one number, 127.1)."""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


class Allowlist:
    """Operator-approved internal receivers: exact host names and CIDR networks."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks)


def _parse(url: str) -> tuple[SplitResult, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookURLRefused(f"webhook URL is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookURLRefused("webhook URL must use http or https")
    if parts.username is not None or parts.password is not None:
        raise WebhookURLRefused(
            "webhook URL must not carry credentials (user:password@); the receiver "
            "authenticates deliveries by their signature"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookURLRefused("webhook URL has no host")
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def _refuse(host: str, why: str) -> WebhookURLRefused:
    return WebhookURLRefused(
        f"webhook host {host!r} {why}; webhooks may only target public internet addresses "
        "(an operator can allow an internal receiver with CERFLOW_WEBHOOK_ALLOWED_TARGETS)"
    )


def vet(
    url: str,
    *,
    allow: Allowlist,
    resolver: Resolver | None = None,
    require_resolution: bool = True,
) -> Target:
    """Check `url` against the policy; raise `WebhookURLRefused` naming why.

    `require_resolution=False` (creation) accepts a name that does not resolve now; with
    True (delivery) it is refused, and the returned `Target.address` is the vetted address
    to connect to.
    """
    _parts, host, port = _parse(url)
    if allow.allows_host(host):
        return Target(url, host, port, None)
    if _odd_numeric(host):
        raise _refuse(host, "is an unusual numeric form of an IP address")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError):
            answers = []
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            if require_resolution:
                raise WebhookURLRefused(f"webhook host {host!r} does not resolve")
            return Target(url, host, port, None)
    for ip in addresses:
        if not (allow.allows_ip(ip) or is_public(ip)):
            raise _refuse(host, f"resolves to a non-public address ({ip})")
    return Target(url, host, port, addresses[0])


def pinned_request(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with the vetted address as host, extra headers, httpx extensions) so the
    connection goes to the address that was checked while Host and TLS SNI keep the name."""
    if target.address is None:
        return target.url, {}, {}
    parts = urlsplit(target.url)
    ip = target.address
    literal = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
    default = 443 if parts.scheme == "https" else 80
    netloc = literal if target.port == default else f"{literal}:{target.port}"
    url = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
    return url, {"Host": host_header}, extensions
