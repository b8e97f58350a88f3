"""Which Host headers the viewer answers (the DNS rebinding guard)."""

import pytest

from nca.play.hosts import HostCheck, host_name


def test_host_names_lose_their_port_brackets_case_and_final_dot():
    assert host_name("[::1]:8765") == "::1"
    assert host_name("Example.COM.:80") == "example.com"
    assert host_name("127.0.0.1") == "127.0.0.1"


@pytest.mark.parametrize(
    ("bind", "allowed", "refused"),
    [
        ("127.0.0.1", ["localhost:1", "127.0.0.1:8765", "[::1]:8765", "127.0.0.2"],
         ["evil.example:8765", "192.168.1.5", "localhost.evil.example", ""]),
        ("::1", ["localhost", "[::1]:1"], ["evil.example"]),
        ("0.0.0.0", ["localhost", "192.168.1.5:8765", "[fe80::1]:8765"], ["evil.example"]),
        ("192.168.1.5", ["192.168.1.5:8765"], ["localhost", "10.0.0.1", "evil.example"]),
        ("myhost.lan", ["MyHost.lan:8765"], ["evil.example", "127.0.0.1"]),
    ],
)  # fmt: skip
def test_a_bind_address_answers_its_own_names_only(bind, allowed, refused):
    check = HostCheck(bind)
    assert all(check.allows(host) for host in allowed)
    assert not any(check.allows(host) for host in refused)
    assert not check.allows(None)


def test_allow_host_adds_names_and_the_refusal_says_how():
    check = HostCheck("127.0.0.1", ("viewer.example",))
    assert check.allows("Viewer.Example:443") and not check.allows("evil.example")
    reason = check.refusal("evil.example:8765")
    assert "'evil.example' is not this viewer's address" in reason
    assert "--allow-host evil.example" in reason and "\n" not in reason
