"""The firewall role's rules, rendered and checked by the real nft (nothing is loaded)."""

import shutil
import subprocess

from render import render

NFT = shutil.which("nft") or "/usr/sbin/nft"


def nft_check(text, tmp_path):
    rules = tmp_path / "firewall.nft"
    rules.write_text(text)
    return subprocess.run([NFT, "-c", "-f", str(rules)], capture_output=True, text=True, check=False)


def test_rules_for_an_app_server_pass_nft_check(tmp_path):
    restricted = [{"ports": [8000, 8001], "sources": ["10.89.0.2", "fd00:89::2"]}]
    text, _ = render("firewall", "firewall.nft.j2", firewall_restricted_tcp_ports=restricted)
    result = nft_check(text, tmp_path)
    assert result.returncode == 0, result.stderr + text
    assert "policy drop;" in text and "tcp dport { 22 } accept" in text
    assert "ip saddr { 10.89.0.2 } tcp dport { 8000, 8001 } accept" in text
    assert "ip6 saddr { fd00:89::2 } tcp dport { 8000, 8001 } accept" in text
    # Everyone else is refused on the uWSGI port, after the accepts.
    assert text.index("tcp dport { 8000, 8001 } reject with tcp reset") > text.index("ip6 saddr")


def test_rules_for_a_web_server_open_http_and_https(tmp_path):
    text, _ = render("firewall", "firewall.nft.j2", firewall_open_tcp_ports=[80, 443], firewall_ssh_ports=[2222])
    assert nft_check(text, tmp_path).returncode == 0
    assert "tcp dport { 80, 443 } accept" in text and "tcp dport { 2222 } accept" in text


def test_nft_refuses_a_broken_rule(tmp_path):
    text, _ = render("firewall", "firewall.nft.j2")
    result = nft_check(text.replace("ct state invalid drop", "ct state nonsense drop"), tmp_path)
    assert result.returncode != 0 and "nonsense" in result.stderr
