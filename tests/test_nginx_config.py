"""The nginx role's templates and config checker, run against the real nginx binary.

A throw-away copy of the host's /etc/nginx stands in for the live config
directory, so these tests never touch the host's own nginx.
"""

import os
import shutil
import subprocess

import pytest
from conftest import ROOT
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
    (tmp_path / "log").mkdir()
    overrides = {"_nginx_conf_dir": str(conf), "_nginx_log_dir": str(tmp_path / "log"), "nginx_site_name": "chatbot", "_nginx_ipv6": False}
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
        "listen 80 default_server reuseport;",
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
    overrides.setdefault("_nginx_log_dir", str(live.parent / "log"))
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
    assert site.count(header) == 2, site  # server, the static location
    # In front of the app: only when the app did not set it (empty, so not added, when it did).
    assert "add_header X-Content-Type-Options $chatbot_uwsgi_x_content_type_options always;" in site, site
    assert 'map $upstream_http_x_content_type_options $chatbot_uwsgi_x_content_type_options {\n    "" "nosniff";\n    default "";\n}' in site
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
    assert "listen [::]:80 default_server reuseport;" in site
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


def self_signed(directory, name, days=365):
    """A certificate and key made the way the role makes them."""
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-nodes", "-days", str(days), "-subj", f"/CN={name}",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt, key


def tls_site(live, version, **overrides):
    tls = live / "tls"
    tls.mkdir(exist_ok=True)
    crt, key = self_signed(tls, "chatbot")
    shutil.copy(ROOT / "roles" / "nginx" / "files" / "ffdhe2048.pem", tls / "ffdhe2048.pem")
    settings = {"nginx_tls": True, "nginx_tls_certificate_file": str(crt), "nginx_tls_certificate_key_file": str(key),
                "_nginx_version": version, "nginx_hsts": True}
    settings.update(overrides)
    return render_site(live, **settings)


def test_tls_site_with_redirect_passes_nginx_t(live):
    site, result = tls_site(live, version="1.22.1", nginx_acme_webroot="/var/www/acme",
                            nginx_server_name="chat.example.test www.example.test")
    assert result.returncode == 0, result.stderr + site
    default, plain, tls = site.split("\nserver {")[1:]
    # nginx before 1.25.1 only knows the listen flag; the installed one here is 1.22.
    assert "listen 443 ssl http2 default_server reuseport;" in default and "http2 on;" not in site
    assert "listen 80 default_server reuseport;" in default and "return 444;" in default
    assert "listen 80;" in plain and "default_server" not in plain + tls
    # To the site's first name, never to the Host a request sends.
    assert "return 301 https://chat.example.test$request_uri;" in plain and "$host" not in site
    assert "uwsgi_pass" not in plain
    assert "location ^~ /.well-known/acme-challenge/" in plain
    assert "Strict-Transport-Security" not in plain, "HSTS belongs on HTTPS responses only"
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls and "uwsgi_pass chatbot_uwsgi;" in tls
    assert tls.count('add_header Strict-Transport-Security "max-age=63072000" always;') == 1
    assert "add_header Strict-Transport-Security $chatbot_uwsgi_strict_transport_security always;" in tls


def test_unknown_hosts_get_no_answer_from_the_default_server(live):
    site, result = tls_site(live, version="1.22.1", nginx_server_name="chat.example.test", nginx_tls_port=8443)
    assert result.returncode == 0, result.stderr + site
    default, plain, tls = site.split("\nserver {")[1:]
    # The default server of both ports answers nothing and never reaches the app, with
    # the site's TLS settings (a client without SNI sees the same profile).
    assert "listen 80 default_server reuseport;" in default and "listen 8443 ssl http2 default_server reuseport;" in default
    assert "server_name _;" in default and "return 444;" in default and "uwsgi_pass" not in default
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in default
    assert "return 301 https://chat.example.test:8443$request_uri;" in plain
    assert "server_name chat.example.test;" in tls and "listen 8443 ssl http2;" in tls and "uwsgi_pass" in tls


def test_wildcard_names_redirect_only_hosts_nginx_matched(live):
    # No exact name: $host, which only a request whose Host matched these names brings here.
    site, result = tls_site(live, version="1.22.1", nginx_server_name="*.example.test ~^app[0-9]+\\.example\\.org$")
    assert result.returncode == 0, result.stderr + site
    default, plain, _ = site.split("\nserver {")[1:]
    assert "return 444;" in default and "return 301 https://$host$request_uri;" in plain


def test_a_site_for_any_host_stays_the_default_server(live):
    # "_": the site answers every host itself (by IP address too); no block in front.
    site, result = render_site(live)
    assert result.returncode == 0, result.stderr
    assert "return 444" not in site and "listen 80 default_server reuseport;" in site
    # Not the default server: nothing to answer for unknown hosts.
    other, _ = render_site(live, nginx_server_name="other.example.test", nginx_default_server=False)
    assert "return 444" not in other and "default_server" not in other


def test_tls_uses_the_http2_directive_on_new_nginx(live):
    site, _ = tls_site(live, version="1.26.3", nginx_tls_redirect=False, nginx_tls_port=8443)
    assert "listen 8443 ssl default_server reuseport;" in site and "http2 on;" in site
    assert "listen 80 default_server reuseport;" in site and "return 301" not in site


def test_checker_refuses_a_key_that_does_not_match(live, tmp_path):
    site, result = tls_site(live, version="1.22.1")
    assert result.returncode == 0, result.stderr
    _, other_key = self_signed(live / "tls", "other")
    candidate = tmp_path / "candidate.conf"
    candidate.write_text(site.replace(str(live / "tls" / "chatbot.key"), str(other_key)))
    refused = check(live, candidate, "sites-available/chatbot.conf")
    assert refused.returncode != 0 and "key values mismatch" in refused.stderr, refused.stderr


def test_gzip_types_are_in_nginx_conf(live):
    conf = (live / "nginx.conf").read_text()
    assert "gzip_types text/plain text/css text/javascript application/javascript application/json application/xml image/svg+xml;" in conf


def test_drained_backends_render_as_down(live):
    backends = [{"server": "10.0.0.2:8000"}, {"server": "10.0.0.3:8000", "weight": 2}]
    site, result = render_site(live, nginx_upstream_servers=backends, nginx_upstream_drained=["10.0.0.3:8000"])
    assert result.returncode == 0, result.stderr
    assert "server 10.0.0.2:8000;" in site and "server 10.0.0.3:8000 weight=2 down;" in site


def test_second_site_on_the_port_leaves_the_socket_flags_to_the_default(live):
    # nginx takes socket flags (reuseport) from one listen per address:port only.
    other, _ = render("nginx", "site.conf.j2", _nginx_conf_dir=str(live), _nginx_log_dir=str(live.parent / "log"),
                      _nginx_ipv6=True, nginx_site_name="other", nginx_server_name="other.example",
                      nginx_default_server=False)
    assert "    listen 80;\n" in other and "    listen [::]:80;\n" in other, other
    (live / "sites-available" / "other.conf").write_text(other)
    os.symlink("../sites-available/other.conf", live / "sites-enabled" / "other.conf")
    site, result = render_site(live, _nginx_ipv6=True)
    assert result.returncode == 0, result.stderr
    assert "listen [::]:80 default_server reuseport;" in site
    # Both sites carrying it is what nginx refuses, hence the switch for sites managed elsewhere.
    (live / "sites-available" / "other.conf").write_text(other.replace("listen 80;", "listen 80 reuseport;"))
    clash = nginx_t(live)
    assert clash.returncode != 0 and "duplicate listen options" in clash.stderr, clash.stderr
    site, result = render_site(live, _nginx_ipv6=True, nginx_listen_reuseport=False)
    assert result.returncode == 0, result.stderr
    assert "    listen 80 default_server;\n" in site and "reuseport" not in site


def test_sandbox_drop_in_keeps_what_nginx_writes_writable():
    dropin, _ = render("nginx", "flaskstack-sandbox.conf.j2", _nginx_ipv6=False, nginx_sandbox_writable_paths=["/srv/cache"])
    assert "ReadWritePaths=/var/log/nginx /var/lib/nginx -/var/cache/nginx /run /srv/cache\n" in dropin, dropin
    for line in ("ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=true", "NoNewPrivileges=true",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN CAP_DAC_OVERRIDE CAP_KILL",
                 "SystemCallFilter=@system-service"):
        assert f"\n{line}\n" in dropin, line
