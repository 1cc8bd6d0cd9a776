"""nginx as the edge, checked with real requests through the container's nginx.

The host runs the app twice (uwsgi-chatbot on 127.0.0.1:8000, uwsgi-chatbot-b
on 127.0.0.1:8001); uWSGI's stats sockets tell which instance served what.
"""

import gzip
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from flaskstack_testlib import journal, make_version, project_dir, request, requests_served, run_playbook, sudo
from loadclient import LoadClient

HTTP, HTTPS = 18100, 18443
CHAT, OTHER, SUPPORT, THIRD = "chat.example.test", "other.example.test", "support.example.test", "third.example.test"
A, B = "chatbot", "chatbot-b"
UNIT_A = "uwsgi-chatbot"
STATIC = Path(__file__).resolve().parents[3] / "examples" / "chatbot" / "static"
SITES = str(Path(__file__).resolve().parents[1] / "sites.yml")
DRAIN = str(Path(__file__).resolve().parents[1] / "drain.yml")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
HSTS = "max-age=63072000"


def chat(path, **kwargs):
    return request(HTTPS, "GET", path, headers={"Host": CHAT, **kwargs.pop("headers", {})}, tls=True, **kwargs)


def served(host):
    return {name: requests_served(host, name) for name in (A, B)}


def delta(before, after):
    return {name: after[name] - before[name] for name in before}


def file_state(host, path):
    out = sudo(host, f"stat -c '%i %Y' {path} && sha256sum {path}")
    assert out.rc == 0, out.stderr
    return out.stdout


def test_plain_http_redirects_to_https(host):
    resp = request(HTTP, "GET", "/health?x=1", headers={"Host": CHAT})
    assert resp.status == 301, resp
    assert resp.headers["Location"] == f"https://{CHAT}/health?x=1"
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.headers)
    assert "Strict-Transport-Security" not in resp.headers, "HSTS is for HTTPS responses only"


def test_unknown_hosts_get_no_answer_and_never_reach_the_app(host):
    # Not redirected to the Host a request sends, not passed to the app: the
    # default server closes the connection (nginx's 444), over HTTP and HTTPS.
    before = served(host)
    for port, tls in ((HTTP, False), (HTTPS, True)):
        with pytest.raises((ConnectionError, ssl.SSLError)):
            request(port, "GET", "/health", headers={"Host": "evil.example"}, tls=tls)
    assert delta(before, served(host)) == {A: 0, B: 0}, "a request for an unknown host reached uWSGI"


def test_https_answers_over_http2_with_hsts_and_no_version(host):
    out = subprocess.run(
        ["curl", "-sk", "--http2", "--resolve", f"{CHAT}:{HTTPS}:127.0.0.1", "-D", "-", "-o", "/dev/null",
         "-w", "%{http_version}", f"https://{CHAT}:{HTTPS}/health"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert out.returncode == 0, out.stderr
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if ":" in line}
    assert out.stdout.startswith("HTTP/2 200"), out.stdout
    assert out.stdout.rstrip().endswith("2"), out.stdout  # curl's %{http_version}
    assert headers["strict-transport-security"] == HSTS
    assert headers["server"] == "nginx", "server_tokens off: no version in the Server header"
    for name, value in SECURITY_HEADERS.items():
        assert headers[name.lower()] == value
    site = sudo(host, "cat /etc/nginx/sites-available/chatbot.conf").stdout
    assert "http2 on;" in site and "listen 443 ssl default_server reuseport;" in site, "nginx 1.26 takes the http2 directive"


def test_nginx_error_pages_carry_the_security_headers(host):
    missing = chat("/static/no-such-file.css")
    too_big = request(HTTPS, "POST", "/api/upload", headers={"Host": CHAT}, tls=True, body_size=76 * 1024 * 1024, send_body=False)
    for resp, status in ((missing, 404), (too_big, 413)):
        assert resp.status == status, resp
        assert "<center>nginx</center>" in resp.text(), "an nginx error page, not the app's"
        for name, value in {**SECURITY_HEADERS, "Strict-Transport-Security": HSTS}.items():
            assert resp.headers.get(name) == value, (status, name, resp.headers)


def handshake(version, ciphers="DEFAULT"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", HTTPS), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=CHAT) as conn:
            return conn.version()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_accepted(version):
    assert handshake(version) == version.name.replace("v1_", "v1.")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_1_0_and_1_1_are_refused_by_the_server(version):
    # SECLEVEL=0 lets this client offer the old versions; the refusal must come
    # from the server, as a protocol_version alert.
    with pytest.raises(ssl.SSLError) as refused:
        handshake(version, ciphers="ALL:@SECLEVEL=0")
    assert "PROTOCOL_VERSION" in str(refused.value).upper(), refused.value


def test_sslyze_finds_the_server_compliant_with_mozilla_intermediate(host, tmp_path):
    cert = sudo(host, "cat /etc/nginx/tls/chatbot-staging-ca.crt")
    assert cert.rc == 0 and "BEGIN CERTIFICATE" in cert.stdout, cert.stderr
    # Trust the staging CA, so the chain is checked like a real one's.
    (tmp_path / "ca.pem").write_text(cert.stdout)
    sslyze = Path(sys.executable).parent / "sslyze"
    out = subprocess.run(
        [str(sslyze), "--mozilla_config=intermediate", f"--certinfo_ca_file={tmp_path / 'ca.pem'}", f"{CHAT}:{HTTPS}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    report = out.stdout + out.stderr
    print(report[-3000:])
    assert out.returncode == 0, report
    assert f"{CHAT}:{HTTPS}: OK - Compliant." in report, report


def test_static_files_come_from_disk_with_cache_headers_and_never_reach_uwsgi(host):
    sudo(host, "runuser -u chatbot -- sh -c 'echo uploaded by the app > /srv/chatbot/shared/media/note.txt'")
    # Unpacked with the release's time, not the packed mtime 0: ETags change with releases.
    mtime = sudo(host, "stat -L -c %Y /srv/chatbot/current/static/style.css").stdout.strip()
    assert int(mtime) > 1_600_000_000, f"style.css has mtime {mtime}"
    before = served(host)
    css = chat("/static/style.css", headers={"Accept-Encoding": "gzip"})
    media = chat("/media/note.txt")
    after = served(host)
    assert css.status == 200, css
    assert css.headers.get("Content-Encoding") == "gzip" and css.headers.get("Vary") == "Accept-Encoding", css.headers
    assert gzip.decompress(css.body) == (STATIC / "style.css").read_bytes()
    assert css.headers.get("Cache-Control") == "max-age=604800" and "Expires" in css.headers, css.headers
    assert css.headers.get("X-Content-Type-Options") == "nosniff" and css.headers.get("Strict-Transport-Security") == HSTS
    assert media.status == 200 and media.body == b"uploaded by the app\n", media
    assert media.headers.get("Cache-Control") == "max-age=3600", media.headers
    assert delta(before, after) == {A: 0, B: 0}, "static requests reached uWSGI"
    # The counters do move for the app itself, so the zero above means something.
    assert chat("/health").status == 200
    assert sum(delta(after, served(host)).values()) == 1


def test_round_robin_sends_requests_to_both_instances(host):
    before = served(host)
    statuses = [chat("/health").status for _ in range(40)]
    moved = delta(before, served(host))
    assert statuses == [200] * 40
    assert sum(moved.values()) == 40 and min(moved.values()) >= 10, moved


def test_a_backend_marked_down_gets_no_traffic(host):
    down = {"nginx_upstream_servers": [{"server": "127.0.0.1:8000"}, {"server": "127.0.0.1:8001", "down": True}]}
    # Only the configuration step: installing and starting nginx were proven by converge.
    try:
        result = run_playbook(SITES, down, tags="nginx_configure")
        assert result.returncode == 0, result.output[-3000:]
        assert "server 127.0.0.1:8001 down;" in sudo(host, "cat /etc/nginx/sites-available/chatbot.conf").stdout
        before = served(host)
        statuses = [chat("/health").status for _ in range(30)]
        moved = delta(before, served(host))
        assert statuses == [200] * 30
        assert moved == {A: 30, B: 0}, moved
    finally:
        restored = run_playbook(SITES, tags="nginx_configure")
        assert restored.returncode == 0, restored.output[-3000:]
    before = served(host)
    for _ in range(20):
        chat("/health")
    assert min(delta(before, served(host)).values()) >= 4, "both instances serve again"


def test_two_sites_answer_by_server_name(host):
    # Deploying one site without touching another is checked with a second
    # app below (test_a_second_app_deploys_and_breaks_without_touching_the_first).
    before = served(host)
    other = request(HTTPS, "GET", "/health", headers={"Host": OTHER}, tls=True)
    assert other.status == 200 and b'"status":"ok"' in other.body.replace(b" ", b""), other
    assert delta(before, served(host)) == {A: 0, B: 1}, "other.example.test has only the 8001 backend"
    assert request(HTTP, "GET", "/health", headers={"Host": CHAT}).status == 301
    assert request(HTTP, "GET", "/health", headers={"Host": OTHER}).status == 301


def said(result):
    """A playbook's output with its line wrapping undone (the YAML callback folds long messages)."""
    return " ".join(result.output.split())


def pebble_root(host, tmp_path):
    """The root Pebble issues under (a new one at each start of Pebble), from its management API, as a file."""
    fetch = ("python3 -c \"import ssl, urllib.request; print(urllib.request.urlopen('https://127.0.0.1:15000/roots/0',"
             " context=ssl.create_default_context(cafile='/etc/pebble/ca.pem')).read().decode())\"")
    out = sudo(host, fetch)
    assert out.rc == 0 and "BEGIN CERTIFICATE" in out.stdout, out.stderr
    root = tmp_path / "pebble-root.pem"
    root.write_text(out.stdout)
    return str(root)


def served_certificate(name, cafile):
    """(serial, DNS names) of the certificate nginx serves for NAME (SNI), verified against CAFILE and NAME."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", HTTPS), timeout=10) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        cert = tls.getpeercert()
    return cert["serialNumber"], sorted(value for kind, value in cert["subjectAltName"] if kind == "DNS")


def test_acme_certificate_is_served_and_renewed_by_certbots_timer_under_load(host, tmp_path):
    root = pebble_root(host, tmp_path)
    serial, names = served_certificate(OTHER, root)
    assert names == [OTHER]
    assert sudo(host, "systemctl is-active certbot.timer; systemctl is-enabled certbot.timer").stdout.split() == ["active", "enabled"]
    # The timer's service, as it runs unattended: made to find the certificate
    # due (Pebble's last five years), it renews it, and the deploy hook checks
    # the config and reloads nginx, which then serves the new certificate.
    conf = "/etc/letsencrypt/renewal/other.conf"
    assert sudo(host, f"sed -i 's/^# renew_before_expiry = .*/renew_before_expiry = 3000 days/' {conf} && grep -c '^renew_before_expiry' {conf}").stdout.strip() == "1"
    try:
        with LoadClient([("127.0.0.1", HTTPS)], path="/health", headers={"Host": OTHER}, tls=True, max_seconds=120) as load:
            time.sleep(1)
            renewal = sudo(host, "systemctl start certbot.service")
            time.sleep(1)
    finally:
        sudo(host, f"sed -i 's/^renew_before_expiry = 3000 days/# renew_before_expiry = 30 days/' {conf}")
    report = load.report()
    print(f"certbot.service renewed {OTHER} under load: {load.summary()}")
    assert renewal.rc == 0, renewal.stderr + journal(host, "certbot")
    new_serial, new_names = served_certificate(OTHER, root)
    assert new_serial != serial and new_names == [OTHER], f"nginx still serves the old certificate{journal(host, 'certbot')}"
    assert report["failed"] == 0 and report["ok"] > 20, report
    # A rolling deploy rewrites the upstream in a play of its own: the site
    # keeps its HTTPS and certificate, byte for byte.
    site = "/etc/nginx/sites-available/other.conf"
    kept = file_state(host, site)
    result = run_playbook(DRAIN)
    assert result.returncode == 0, result.output[-3000:]
    assert file_state(host, site) == kept, sudo(host, f"cat {site}").stdout
    assert served_certificate(OTHER, root) == (new_serial, new_names)


def test_a_site_switched_to_acme_keeps_https_and_follows_the_acme_server(host, tmp_path):
    root = pebble_root(host, tmp_path)
    third = {"nginx_site_name": "third", "nginx_server_name": THIRD, "nginx_default_server": False,
             "nginx_upstream_servers": [{"server": "127.0.0.1:8001"}]}
    try:
        result = run_playbook(SITES, {"edge_other_site": {**third, "nginx_acme": False}}, tags="nginx_configure")
        assert result.returncode == 0, result.output[-3000:]
        assert request(HTTPS, "GET", "/health", headers={"Host": THIRD}, tls=True).status == 200
        # Switched from its self-signed certificate to ACME under load: HTTPS
        # answers throughout, with the old certificate until the new one is there.
        with LoadClient([("127.0.0.1", HTTPS)], path="/health", headers={"Host": THIRD}, tls=True, max_seconds=180) as load:
            result = run_playbook(SITES, {"edge_other_site": third}, tags="nginx_configure")
        report = load.report()
        print(f"{THIRD} switched to ACME under load: {load.summary()}")
        assert result.returncode == 0, result.output[-3000:]
        assert report["failed"] == 0 and report["ok"] > 20, report
        serial, names = served_certificate(THIRD, root)
        assert names == [THIRD]
        # The same Pebble under another URL is another ACME server to certbot:
        # the certificate is replaced at once, though not due for renewal.
        moved = {"edge_other_site": third, "nginx_acme_directory": "https://localhost:14000/dir"}
        result = run_playbook(SITES, moved, tags="nginx_configure")
        assert result.returncode == 0, result.output[-3000:]
        moved_serial = served_certificate(THIRD, root)[0]
        assert moved_serial != serial, "the certificate of the old ACME server is still served"
        assert "server = https://localhost:14000/dir" in sudo(host, "cat /etc/letsencrypt/renewal/third.conf").stdout
        # A new contact address: the account is updated, the certificate kept.
        result = run_playbook(SITES, {**moved, "nginx_acme_email": "certs@example.test"}, tags="nginx_configure")
        assert result.returncode == 0, result.output[-3000:]
        account = sudo(host, "REQUESTS_CA_BUNDLE=/etc/letsencrypt/flaskstack-ca-bundle.pem"
                             " certbot show_account --non-interactive --server https://localhost:14000/dir")
        assert "certs@example.test" in account.stdout + account.stderr, account.stdout + account.stderr
        assert served_certificate(THIRD, root)[0] == moved_serial, "a new contact re-issued the certificate"
    finally:
        sudo(host, "certbot delete --non-interactive --cert-name third; rm -f /etc/nginx/sites-enabled/third.conf"
                   " /etc/nginx/sites-available/third.conf* && systemctl reload nginx")


def test_a_refused_certificate_leaves_each_site_serving_as_before(host, tmp_path):
    # nowhere.example.test points at another address (TEST-NET-1 in
    # /etc/hosts): the ACME server cannot reach it there and refuses it.
    root = pebble_root(host, tmp_path)
    other = served_certificate(OTHER, root)
    site = "/etc/nginx/sites-available/other.conf"
    kept = file_state(host, site)
    # A name added to a site that has its certificate: the site goes back as it was.
    added = {"edge_other_site": {"nginx_site_name": "other", "nginx_server_name": f"{OTHER} nowhere.example.test",
                                 "nginx_default_server": False, "nginx_upstream_servers": [{"server": "127.0.0.1:8001"}]}}
    result = run_playbook(SITES, added, tags="nginx_configure")
    assert result.returncode != 0
    assert f"ACME: no certificate for {OTHER}, nowhere.example.test (site other)" in said(result), result.output[-3000:]
    assert "nowhere.example.test refused (connection:" in said(result), result.output[-3000:]
    assert f"The site is back as it was, with its current certificate (for {OTHER})." in said(result), result.output[-3000:]
    assert file_state(host, site).split()[-2] == kept.split()[-2], "the site's file changed"
    assert served_certificate(OTHER, root) == other
    assert request(HTTPS, "GET", "/health", headers={"Host": OTHER}, tls=True).status == 200
    # A new site whose first certificate is refused: it serves plain HTTP.
    nowhere = {"edge_other_site": {"nginx_site_name": "nowhere", "nginx_server_name": "nowhere.example.test",
                                   "nginx_default_server": False, "nginx_upstream_servers": [{"server": "127.0.0.1:8001"}]}}
    try:
        result = run_playbook(SITES, nowhere, tags="nginx_configure")
        assert result.returncode != 0
        assert "ACME: no certificate for nowhere.example.test (site nowhere)" in said(result), result.output[-3000:]
        assert "The site serves plain HTTP until a certificate is issued." in said(result), result.output[-3000:]
        assert request(HTTP, "GET", "/health", headers={"Host": "nowhere.example.test"}).status == 200
        assert sudo(host, "test -e /etc/letsencrypt/live/nowhere").rc != 0
        assert served_certificate(OTHER, root) == other, "another site's certificate changed"
        assert chat("/health").status == 200
        left = sudo(host, "ls /etc/nginx/sites-available/")
        assert left.rc == 0 and "before-acme" not in left.stdout, left.stdout
    finally:
        sudo(host, "rm -f /etc/nginx/sites-enabled/nowhere.conf /etc/nginx/sites-available/nowhere.conf* && systemctl reload nginx")


def test_a_bad_raw_directive_fails_the_play_and_the_old_config_keeps_serving(host):
    site = "/etc/nginx/sites-available/chatbot.conf"
    kept = file_state(host, site)
    pid = host.run("systemctl show -P MainPID nginx").stdout.strip()
    result = run_playbook("site.yml", {"nginx_server_extra": ["no_such_directive on"]}, tags="nginx_configure")
    assert result.returncode != 0
    assert 'unknown directive "no_such_directive" in /etc/nginx/sites-enabled/chatbot.conf' in result.output, result.output[-3000:]
    assert file_state(host, site) == kept, "the live site file changed"
    assert host.run("systemctl show -P MainPID nginx").stdout.strip() == pid, f"nginx restarted{journal(host, 'nginx')}"
    assert host.service("nginx").is_running
    assert chat("/health").status == 200


def test_logs_are_per_site_and_rotated(host):
    marker = hashlib.sha1(os.urandom(8)).hexdigest()
    assert chat(f"/health?before={marker}").status == 200
    log = "/var/log/nginx/chatbot.access.log"
    # The access log is buffered and flushed every second.
    assert wait_for_log(host, log, f"before={marker}"), "the request is not in the access log"
    assert sudo(host, "cat /etc/logrotate.d/nginx").stdout.startswith("/var/log/nginx/*.log")
    rotate = sudo(host, "logrotate -f /etc/logrotate.d/nginx")
    assert rotate.rc == 0, rotate.stdout + rotate.stderr
    assert sudo(host, f"test -s {log}.1 && grep -q {marker} {log}.1").rc == 0, "the old log was not rotated"
    assert chat(f"/health?after={marker}").status == 200
    # nginx reopened its files: the new request is in the new log.
    assert wait_for_log(host, log, f"after={marker}"), "the request after the rotation is not in the new log"
    new = sudo(host, f"cat {log}").stdout
    assert f"before={marker}" not in new, new


def wait_for_log(host, log, text, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in sudo(host, f"cat {log}").stdout:
            return True
        time.sleep(0.3)
    return False


def support_app(**more):
    """examples/second-app.yml, adapted to this host: HTTPS with its own
    certificate by ACME, nginx reaching its uWSGI through a unix socket."""
    settings = yaml.safe_load((project_dir() / "examples" / "second-app.yml").read_text())
    settings.update(
        flaskstack_uwsgi_unix_socket=True,
        flaskstack_server_name=SUPPORT,
        flaskstack_tls=True,
        nginx_acme=True,
        # The host's HSTS and self-signed certificate are the first app's.
        nginx_hsts=False,
        nginx_tls_self_signed=False,
        # The host's list is the first app's: this app's is its socket.
        nginx_upstream_servers=[{"server": "unix:/run/uwsgi-support.sock"}],
        flask_app_public_dirs=[],
    )
    settings.update(more)
    return settings


def chatbot_state(host):
    out = sudo(host, f"readlink /srv/chatbot/current; systemctl show -P MainPID {UNIT_A}; sha256sum /etc/nginx/sites-available/chatbot.conf")
    return out.stdout


def support(path):
    return request(HTTPS, "GET", path, headers={"Host": SUPPORT}, tls=True)


def test_a_second_app_deploys_and_breaks_without_touching_the_first(host, tmp_path):
    kept = chatbot_state(host)
    root = pebble_root(host, tmp_path)
    other = served_certificate(OTHER, root)
    result = run_playbook("site.yml", support_app())
    assert result.returncode == 0, result.output[-4000:]
    assert chatbot_state(host) == kept, "deploying the second app touched the first one's release, uWSGI or site"
    # Its own certificate; the other ACME site's is untouched.
    assert served_certificate(SUPPORT, root)[1] == [SUPPORT]
    assert served_certificate(OTHER, root) == other
    support_health = support("/health")
    assert support_health.status == 200, support_health
    assert chat("/health").status == 200
    users = sudo(host, "id -u chatbot; id -u support; systemctl is-active uwsgi-chatbot uwsgi-support").stdout.split()
    assert users[0] != users[1] and users[2:] == ["active", "active"], users
    assert requests_served(host, "support") >= 1
    # Its unix socket: held by systemd, nginx's group may connect, another app's user may not.
    sock = "/run/uwsgi-support.sock"
    assert sudo(host, f"stat -c '%F %U %G %a' {sock}").stdout.split() == ["socket", "root", "www-data", "660"]
    assert "unix:" + sock in sudo(host, "cat /etc/nginx/sites-available/support.conf").stdout
    connect = f"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"{sock}\")'"
    assert sudo(host, f"runuser -u www-data -- {connect}").rc == 0
    refused = sudo(host, f"runuser -u chatbot -- {connect}")
    assert refused.rc != 0 and "PermissionError" in refused.stderr, refused.stderr

    broken = make_version(tmp_path, 9, "import")
    with LoadClient([("127.0.0.1", HTTPS)], path="/health", headers={"Host": CHAT}, tls=True, max_seconds=300) as load:
        result = run_playbook("deploy.yml", support_app(flask_app_src=broken))
    report = load.report()
    print(f"chatbot while support got a broken release: {load.summary()}")
    assert result.returncode != 0 and "was not put live" in result.output, result.output[-4000:]
    assert report["failed"] == 0 and report["ok"] > 100 and set(report["versions"]) == {"1"}, report
    assert chatbot_state(host) == kept, "the first app's release, uWSGI process or site changed"
    assert support("/health").status == 200, "support keeps its live release"
