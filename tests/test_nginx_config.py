"""The nginx role's templates and config checker, run against the real nginx binary.

A throw-away copy of the host's /etc/nginx stands in for the live config
directory, so these tests never touch the host's own nginx.
"""

import os
import shutil
import subprocess

import pytest
from render import render

# make host-deps installs nginx; without it these tests fail rather than skip.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture()
def live(tmp_path):
    """A config directory laid out like Debian's, with our nginx.conf and site in it."""
    conf = tmp_path / "etc-nginx"
    conf.mkdir()
    for name in ("mime.types", "uwsgi_params"):
        shutil.copy(f"/etc/nginx/{name}", conf / name)
    for sub in ("conf.d", "modules-enabled", "sites-available", "sites-enabled"):
        (conf / sub).mkdir()
    overrides = {"_nginx_conf_dir": str(conf), "nginx_site_name": "chatbot", "_nginx_ipv6": False}
    text, _ = render("nginx", "nginx.conf.j2", **overrides)
    (conf / "nginx.conf").write_text(text)
    site, _ = render("nginx", "site.conf.j2", **overrides)
    (conf / "sites-available" / "chatbot.conf").write_text(site)
    os.symlink("../sites-available/chatbot.conf", conf / "sites-enabled" / "chatbot.conf")
    checker, _ = render("nginx", "flaskstack-nginx-check.j2", **overrides)
    (tmp_path / "check").write_text(checker)
    (tmp_path / "check").chmod(0o755)
    return conf


def nginx_t(conf):
    return subprocess.run([NGINX, "-t", "-q", "-c", str(conf / "nginx.conf")], capture_output=True, text=True, check=False)


def check(live, candidate, relpath, *drop):
    command = [str(live.parent / "check"), str(candidate), relpath, *drop]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_rendered_config_passes_nginx_t(live):
    result = nginx_t(live)
    assert result.returncode == 0, result.stderr


def test_site_matches_the_manual_setup(live):
    site = (live / "sites-available" / "chatbot.conf").read_text()
    for line in (
        "charset utf-8;",
        "client_max_body_size 75M;",
        "include uwsgi_params;",
        "uwsgi_pass chatbot_uwsgi;",
        "server 127.0.0.1:8000;",
        "listen 80 default_server;",
    ):
        assert line in site, f"missing {line!r} in:\n{site}"


def test_server_tokens_are_off(live):
    assert "server_tokens off;" in (live / "nginx.conf").read_text()


def test_checker_accepts_a_good_site(live, tmp_path):
    candidate = tmp_path / "good.conf"
    candidate.write_text((live / "sites-available" / "chatbot.conf").read_text().replace("75M", "10M"))
    result = check(live, candidate, "sites-available/chatbot.conf")
    assert result.returncode == 0, result.stderr


def test_checker_refuses_a_bad_site_with_nginx_message_and_live_paths(live, tmp_path):
    before = (live / "sites-available" / "chatbot.conf").read_bytes()
    candidate = tmp_path / "bad.conf"
    # The manual setup's classic: a "#" comment glued to a directive eats its ";".
    candidate.write_text("server {\n    listen 80;\n    charset utf-8 #comment;\n}\n")
    result = check(live, candidate, "sites-available/chatbot.conf")
    assert result.returncode != 0
    assert "nginx:" in result.stderr and "emerg" in result.stderr, result.stderr
    # nginx names the file as included: through the sites-enabled link.
    assert f"{live}/sites-enabled/chatbot.conf:4" in result.stderr, result.stderr
    assert "flaskstack-nginx-check." not in result.stderr, "temporary paths leak into the message"
    assert (live / "sites-available" / "chatbot.conf").read_bytes() == before
    assert nginx_t(live).returncode == 0


def test_checker_tests_a_new_site_as_if_enabled(live, tmp_path):
    candidate = tmp_path / "other.conf"
    candidate.write_text("server {\n    listen 8081;\n    unknown_thing on;\n}\n")
    result = check(live, candidate, "sites-available/other.conf")
    assert result.returncode != 0
    assert 'unknown directive "unknown_thing"' in result.stderr
    assert not (live / "sites-available" / "other.conf").exists()
    assert not (live / "sites-enabled" / "other.conf").exists()


def test_checker_refuses_a_broken_nginx_conf(live, tmp_path):
    candidate = tmp_path / "nginx.conf"
    candidate.write_text((live / "nginx.conf").read_text().replace("events {", "events {\n    bogus 1;"))
    result = check(live, candidate, "nginx.conf")
    assert result.returncode != 0
    assert 'unknown directive "bogus"' in result.stderr
    assert "bogus" not in (live / "nginx.conf").read_text()


def render_site(live, **overrides):
    """Render the site with OVERRIDES into the live copy; return its text and nginx -t's result."""
    overrides.setdefault("_nginx_ipv6", False)
    site, _ = render("nginx", "site.conf.j2", _nginx_conf_dir=str(live), nginx_site_name="chatbot", **overrides)
    (live / "sites-available" / "chatbot.conf").write_text(site)
    return site, nginx_t(live)


def test_upstream_parameters_and_methods_pass_nginx_t(live):
    backends = [
        {"server": "127.0.0.1:8000", "weight": 3, "max_fails": 2, "fail_timeout": 5},
        {"server": "127.0.0.1:8001", "down": True},
        {"server": "unix:/run/uwsgi/app.sock", "backup": True},
    ]
    site, result = render_site(live, nginx_upstream_servers=backends, nginx_upstream_method="least_conn")
    assert result.returncode == 0, result.stderr + site
    assert "least_conn;" in site
    assert "server 127.0.0.1:8000 weight=3 max_fails=2 fail_timeout=5s;" in site
    assert "server 127.0.0.1:8001 down;" in site
    assert "server unix:/run/uwsgi/app.sock backup;" in site
    site, result = render_site(live, nginx_upstream_method="hash", nginx_upstream_hash_key="$request_uri")
    assert result.returncode == 0 and "hash $request_uri consistent;" in site, result.stderr


def test_security_headers_are_in_every_block_with_always(live):
    statics = [{"url": "/static/", "path": "/srv/chatbot/current/static", "expires": "30d"}]
    site, result = render_site(live, nginx_static_locations=statics, nginx_location_extra=['add_header X-Extra "1"'])
    assert result.returncode == 0, result.stderr
    header = 'add_header X-Content-Type-Options "nosniff" always;'
    assert site.count(header) == 3, site  # server, the static location, location /
    assert "alias /srv/chatbot/current/static/;" in site and "expires 30d;" in site


def test_rate_limit_ipv6_and_raw_directives_pass_nginx_t(live):
    site, result = render_site(
        live,
        nginx_rate_limit=5,
        _nginx_ipv6=True,
        nginx_server_extra=["location = /robots.txt { return 200 'User-agent: *'; }", "keepalive_timeout 30s"],
    )
    assert result.returncode == 0, result.stderr + site
    assert "limit_req_zone $binary_remote_addr zone=chatbot_uwsgi_rate:10m rate=5r/s;" in site
    assert "listen [::]:80 default_server;" in site
    assert "keepalive_timeout 30s;" in site and "'User-agent: *'; }\n" in site


def test_checker_drops_what_the_change_removes(live, tmp_path):
    # A distribution default site that also claims default_server on port 80.
    (live / "sites-enabled" / "default").write_text("server {\n    listen 80 default_server;\n}\n")
    site = live / "sites-available" / "chatbot.conf"
    clash = check(live, site, "sites-available/chatbot.conf")
    assert clash.returncode != 0 and "duplicate default server" in clash.stderr, clash.stderr
    ok = check(live, site, "sites-available/chatbot.conf", "sites-enabled/default")
    assert ok.returncode == 0, ok.stderr
    assert (live / "sites-enabled" / "default").exists(), "the checker must not touch the live directory"
