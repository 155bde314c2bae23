"""The webhook URL policy: only public http(s) targets, however the address is spelled."""

from __future__ import annotations

import ipaddress

import pytest

from cerflow.webhooks.url_policy import (
    Allowlist,
    Target,
    WebhookURLRefused,
    pinned_request,
    vet,
)

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/",
    "http://localhost:6379/",
    "http://[::1]/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "https://10.0.0.1/x",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[2002:7f00:1::1]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 wrapping 169.254.169.254
]


def fake_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, _port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1", "::1"]
        try:
            return table[host]
        except KeyError:
            raise OSError("Name or service not known") from None

    return resolve


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(WebhookURLRefused, match="CERFLOW_WEBHOOK_ALLOWED_TARGETS"):
        vet(url, allow=Allowlist(), resolver=fake_resolver({}))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://example.org/", "http or https"),
        ("https://user:pw@hooks.example.org/", "credentials"),
        ("https://user@hooks.example.org/", "credentials"),
        ("http:///nohost", "no host"),
    ],
)
def test_bad_schemes_credentials_and_missing_hosts_are_refused(url: str, why: str) -> None:
    with pytest.raises(WebhookURLRefused, match=why):
        vet(url, allow=Allowlist(), resolver=fake_resolver({}))


def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    resolver = fake_resolver({"mixed.example.org": ["93.184.215.14", "10.1.2.3"]})
    with pytest.raises(WebhookURLRefused, match=r"10\.1\.2\.3"):
        vet("https://mixed.example.org/hook", allow=Allowlist(), resolver=resolver)


def test_public_targets_pass_and_are_pinned_to_the_vetted_address() -> None:
    resolver = fake_resolver({"hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    target = vet("https://hooks.example.org:8443/in?x=1", allow=Allowlist(), resolver=resolver)
    assert target.address == ipaddress.ip_address("93.184.215.14")
    url, headers, extensions = pinned_request(target)
    assert url == "https://93.184.215.14:8443/in?x=1"
    assert headers == {"Host": "hooks.example.org:8443"}
    assert extensions == {"sni_hostname": "hooks.example.org"}
    v6 = Target("http://h.example.org/a", "h.example.org", 80, ipaddress.ip_address("2001:db8::1"))
    assert pinned_request(v6)[0] == "http://[2001:db8::1]/a"


def test_unresolvable_names_pass_at_creation_but_not_at_delivery() -> None:
    resolver = fake_resolver({})
    target = vet(
        "https://later.example.org/", allow=Allowlist(), resolver=resolver, require_resolution=False
    )
    assert target.address is None
    with pytest.raises(WebhookURLRefused, match="does not resolve"):
        vet("https://later.example.org/", allow=Allowlist(), resolver=resolver)


def test_allowlist_admits_internal_receivers_by_cidr_or_name() -> None:
    allow = Allowlist(["127.0.0.1/32", "10.20.0.0/16", "receiver.internal"])
    assert vet("http://127.0.0.1:9000/hook", allow=allow).address == ipaddress.ip_address(
        "127.0.0.1"
    )
    assert vet("https://10.20.3.4/x", allow=allow).address is not None
    assert (
        vet("http://receiver.internal/x", allow=allow, resolver=fake_resolver({})).address is None
    )
    with pytest.raises(WebhookURLRefused):
        vet("https://10.21.0.1/x", allow=allow)
    # Odd spellings are refused even when the address they mean is allowlisted.
    with pytest.raises(WebhookURLRefused, match="numeric form"):
        vet("http://0x7f000001/", allow=allow)
