"""The allow-list grammar (plugins/filter/grammar.py) and hostile settings through the check play.

HOSTILE is the table of issue 19: (settings, kind, variable the refusal must
name). Every case is checked against the grammar directly (milliseconds), and
every case is refused before any connection by the real check play that
site.yml and deploy.yml run first (playbooks/check.yml, as in
test_site_settings.py): the cases are batched, several per server (each check
reports all its refusals together) and several servers per run, against
unreachable servers. GOOD holds values per kind that must be accepted; the
tencent and local inventories and examples/second-app.yml pass the checks in
test_site_settings.py and here.
"""

import importlib.util
import json

import pytest
from conftest import ROOT
from test_site_settings import PER_RUN, assert_refused_before_any_server, batches, passed_the_checks, refused_each

_spec = importlib.util.spec_from_file_location("flaskstack_grammar", ROOT / "plugins" / "filter" / "grammar.py")
grammar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grammar)

LEAK = "7d; } location ^~ /leak/ { alias /; autoindex on"
SERVER_BLOCK = "unix:/run/u.sock; } server { listen 8080; root /; autoindex on; } upstream x {"


def static(path="/srv/chatbot/current/static", url="/static/", **more):
    return {"nginx_static_locations": [dict(url=url, path=path, **more)]}


def upstream(server):
    return {"nginx_upstream_servers": [{"server": server}]}


def env(key):
    return {"flask_app_env": {key: "1"}}


def artifact(**more):
    return {"flask_app_artifacts": [dict(src=str(ROOT / "examples" / "models" / "chatbot-model.json"), **more)]}


# (settings, kind, named). kind is the grammar's kind of the offending value,
# or a rule across settings ("account", "loopback", "noop").
HOSTILE = [
    # Accounts
    ({"flaskstack_app_name": "ubuntu"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "www-data"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "root"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "nobody"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "daemon"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "sshd"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "systemd-network"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "admin"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "debian"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "messagebus"}, "account", "flaskstack_app_name"),
    ({"flaskstack_app_name": "backup"}, "account", "flaskstack_app_name"),
    ({"flask_app_user": "ubuntu"}, "account", "flask_app_user"),
    ({"flask_app_user": "www-data"}, "account", "flask_app_user"),
    ({"flask_app_user": "_apt"}, "account", "flask_app_user"),
    ({"flask_app_user": "nginx"}, "account", "flask_app_user"),
    ({"flask_app_group": "sudo"}, "account", "flask_app_group"),
    ({"flask_app_group": "www-data"}, "account", "flask_app_group"),
    ({"flask_app_group": "adm"}, "account", "flask_app_group"),
    ({"flask_app_user": "Chat Bot"}, "account", "flask_app_user"),
    # Names
    ({"flaskstack_app_name": "chatbot\n"}, "name", "flaskstack_app_name"),
    ({"flaskstack_app_name": "-chatbot"}, "name", "flaskstack_app_name"),
    ({"flaskstack_app_name": "chat;bot"}, "name", "flaskstack_app_name"),
    # The base directory
    ({"flaskstack_app_base_dir": "/tmp"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/etc"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/usr"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/var"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/home"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/root"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/boot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/proc/1"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/opt"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/home/ubuntu"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/var/log/chatbot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/tmp/chatbot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv//chatbot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/./chatbot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/chatbot/"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/chat bot"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/chatbot\n"}, "base_dir", "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/$chatbot"}, "base_dir", "flaskstack_app_base_dir"),
    # Server names
    ({"flaskstack_server_name": "example.com #"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "example.com\\"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "example.com;"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "a.com; } server { listen 81"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "example.com\n"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "a.com  b.com"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "~^(?<x>.+)\\.com${"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "'example.com'"}, "server_names", "flaskstack_server_name"),
    ({"flaskstack_server_name": "example.com\t"}, "server_names", "flaskstack_server_name"),
    # URL prefixes and paths of static locations
    (static(url="/"), "url_prefix", "nginx_static_locations"),
    (static(url="/static"), "url_prefix", "nginx_static_locations"),
    (static(url="/../"), "url_prefix", "nginx_static_locations"),
    (static(url="/static/\n"), "url_prefix", "nginx_static_locations"),
    (static(url="/st atic/"), "url_prefix", "nginx_static_locations"),
    (static(url="/static/ { } location /x/"), "url_prefix", "nginx_static_locations"),
    (static(path="/srv/chatbot/$http_x_path"), "path", "nginx_static_locations"),
    (static(path="/srv/chatbot/../../etc"), "path", "nginx_static_locations"),
    (static(path="/srv/chatbot/static; autoindex on"), "path", "nginx_static_locations"),
    (static(path="/"), "path", "nginx_static_locations"),
    (static(path="//etc"), "path", "nginx_static_locations"),
    (static(path="/srv/chatbot/static\n"), "path", "nginx_static_locations"),
    # Durations (expires) and sizes
    (static(expires=LEAK), "expires", "nginx_static_locations"),
    (static(expires="7d\n"), "expires", "nginx_static_locations"),
    (static(expires="7 days"), "expires", "nginx_static_locations"),
    (static(expires="$arg_e"), "expires", "nginx_static_locations"),
    ({"nginx_client_max_body_size": "75M; client_body_temp_path /etc"}, "size", "nginx_client_max_body_size"),
    ({"nginx_client_max_body_size": "75M\n"}, "size", "nginx_client_max_body_size"),
    ({"nginx_client_max_body_size": "-1"}, "size", "nginx_client_max_body_size"),
    ({"nginx_access_log_buffer": "64k; access_log /etc/passwd"}, "size", "nginx_access_log_buffer"),
    ({"nginx_access_log_flush": "1s; error_log /tmp/x"}, "duration", "nginx_access_log_flush"),
    ({"nginx_access_log_flush": "5 s"}, "duration", "nginx_access_log_flush"),
    # Upstream addresses
    (upstream(SERVER_BLOCK), "upstream", "nginx_upstream_servers"),
    (upstream("unix:/run/u.sock;"), "upstream", "nginx_upstream_servers"),
    (upstream("unix:relative.sock"), "upstream", "nginx_upstream_servers"),
    (upstream("unix:/run/../etc/u.sock"), "upstream", "nginx_upstream_servers"),
    (upstream("127.0.0.1:8000\n"), "upstream", "nginx_upstream_servers"),
    (upstream("127.0.0.1:0"), "upstream", "nginx_upstream_servers"),
    (upstream("127.0.0.1:65536"), "upstream", "nginx_upstream_servers"),
    (upstream("127.0.0.1:8000 backup"), "upstream", "nginx_upstream_servers"),
    (upstream("[::1;]:8000"), "upstream", "nginx_upstream_servers"),
    ({"flaskstack_uwsgi_socket": "0.0.0.0:8000; x"}, "tcp_address", "flaskstack_uwsgi_socket"),
    ({"flaskstack_uwsgi_socket": "127.0.0.1:8000\n"}, "tcp_address", "flaskstack_uwsgi_socket"),
    # Hash keys
    ({"nginx_upstream_method": "hash", "nginx_upstream_hash_key": "$request_uri; } server {"}, "hash_key", "nginx_upstream_hash_key"),
    ({"nginx_upstream_method": "hash", "nginx_upstream_hash_key": "$request_uri\n"}, "hash_key", "nginx_upstream_hash_key"),
    ({"nginx_upstream_method": "hash", "nginx_upstream_hash_key": "$document_root"}, "hash_key", "nginx_upstream_hash_key"),
    ({"nginx_upstream_method": "hash", "nginx_upstream_hash_key": "request_uri"}, "hash_key", "nginx_upstream_hash_key"),
    ({"nginx_upstream_method": "hash", "nginx_upstream_hash_key": "$request_uri consistent"}, "hash_key", "nginx_upstream_hash_key"),
    # Env keys
    (env("UWSGI_HTTP_SOCKET"), "env_key", "flask_app_env"),
    (env("UWSGI_MASTER"), "env_key", "flask_app_env"),
    (env("FLASKSTACK_ENV_KEYS"), "env_key", "flask_app_env"),
    (env("uwsgi_http_socket"), "env_key", "flask_app_env"),
    (env("PYTHONPATH"), "env_key", "flask_app_env"),
    (env("PYTHONSTARTUP"), "env_key", "flask_app_env"),
    (env("PYTHONHOME"), "env_key", "flask_app_env"),
    (env("LD_PRELOAD"), "env_key", "flask_app_env"),
    (env("LD_LIBRARY_PATH"), "env_key", "flask_app_env"),
    (env("PATH"), "env_key", "flask_app_env"),
    (env("GCONV_PATH"), "env_key", "flask_app_env"),
    (env("MALLOC_CHECK_"), "env_key", "flask_app_env"),
    (env("FOO\n"), "env_key", "flask_app_env"),
    (env("FOO=BAR"), "env_key", "flask_app_env"),
    (env("1FOO"), "env_key", "flask_app_env"),
    ({"flask_app_secrets": {"LD_AUDIT": "x"}}, "env_key", "flask_app_secrets"),
    ({"flask_app_env": {"UWSGI_HTTP_SOCKET": "0.0.0.0:9090"}, "flask_app_env_allowed_keys": ["UWSGI_HTTP_SOCKET"]},
     "env_key", "flask_app_env_allowed_keys"),
    # pip requirements
    ({"flask_app_pip_packages": ["--index-url=https://evil.example/simple"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["-e", "git+https://evil.example/x.git"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["-r/etc/passwd"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["flask --extra-index-url https://evil.example"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["flask\n"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["/tmp/evil.whl"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"flask_app_pip_packages": ["--trusted-host=evil.example"]}, "pip_requirement", "flask_app_pip_packages"),
    ({"uwsgi_package": "uwsgi --no-binary :all:"}, "pip_requirement", "uwsgi_package"),
    # git URLs and versions
    ({"flask_app_source": "git", "flask_app_git_repo": "--upload-pack=touch /tmp/pwned"}, "git_url", "flask_app_git_repo"),
    ({"flask_app_source": "git", "flask_app_git_repo": "ext::sh -c touch% /tmp/pwned"}, "git_url", "flask_app_git_repo"),
    ({"flask_app_source": "git", "flask_app_git_repo": "-oProxyCommand=x"}, "git_url", "flask_app_git_repo"),
    ({"flask_app_source": "git", "flask_app_git_repo": "https://example.com/app.git\n"}, "git_url", "flask_app_git_repo"),
    ({"flask_app_source": "git", "flask_app_git_repo": "https://example.com/a.git", "flask_app_git_version": "--orphan"},
     "git_version", "flask_app_git_version"),
    ({"flask_app_source": "git", "flask_app_git_repo": "https://example.com/a.git", "flask_app_git_version": "main..evil"},
     "git_version", "flask_app_git_version"),
    ({"flask_app_source": "git", "flask_app_git_repo": "https://example.com/a.git", "flask_app_git_version": "main\n"},
     "git_version", "flask_app_git_version"),
    # File modes
    (artifact(mode="4777"), "mode", "flask_app_artifacts"),
    (artifact(mode="0666"), "mode", "flask_app_artifacts"),
    (artifact(mode="2750"), "mode", "flask_app_artifacts"),
    (artifact(mode="1755"), "mode", "flask_app_artifacts"),
    (artifact(mode="u+s"), "mode", "flask_app_artifacts"),
    (artifact(mode="0640\n"), "mode", "flask_app_artifacts"),
    # Relative paths inside a release
    ({"flask_app_shared_dirs": ["."]}, "relative_path", "flask_app_shared_dirs"),
    ({"flask_app_shared_dirs": [""]}, "relative_path", "flask_app_shared_dirs"),
    ({"flask_app_shared_dirs": ["data/../.."]}, "relative_path", "flask_app_shared_dirs"),
    ({"flask_app_shared_dirs": ["/etc"]}, "relative_path", "flask_app_shared_dirs"),
    ({"flask_app_workdir": "src/"}, "relative_path", "flask_app_workdir"),
    (artifact(dest="./"), "relative_path", "flask_app_artifacts"),
    (artifact(dest="a//b"), "relative_path", "flask_app_artifacts"),
    # URL paths
    ({"flaskstack_healthcheck_path": "/health$x"}, "url_path", "flaskstack_healthcheck_path"),
    ({"flaskstack_healthcheck_path": "/health\n"}, "url_path", "flaskstack_healthcheck_path"),
    ({"flaskstack_healthcheck_path": "/health;x"}, "url_path", "flaskstack_healthcheck_path"),
    # uWSGI stays on loopback on a single server without the firewall
    ({"flaskstack_uwsgi_socket": "0.0.0.0:8000"}, "loopback", "flaskstack_uwsgi_socket"),
    ({"flaskstack_uwsgi_socket": "[::]:8000"}, "loopback", "flaskstack_uwsgi_socket"),
    ({"flaskstack_uwsgi_socket": "10.0.0.5:8000", "flaskstack_firewall": False}, "loopback", "flaskstack_uwsgi_socket"),
    # The redirect to HTTPS goes to the site's own name, never to any Host a request sends
    ({"flaskstack_tls": True, "nginx_tls_self_signed": True}, "redirect", "nginx_tls_redirect"),
    ({"flaskstack_server_name": "*.example.com ~^(www\\.)?example\\.org$", "flaskstack_tls": False}, "redirect",
     "flaskstack_server_name"),
    # ACME: the account's contact, the directory URL, names the CA can check over HTTP
    ({"nginx_acme_email": "ops@example.com --server=https://evil.example"}, "email", "nginx_acme_email"),
    ({"nginx_acme_email": "-ops@example.com"}, "email", "nginx_acme_email"),
    ({"nginx_acme_directory": "http://acme.example.com/directory"}, "https_url", "nginx_acme_directory"),
    ({"nginx_acme_directory": "https://acme.example.com/dir --config=/tmp/x"}, "https_url", "nginx_acme_directory"),
    ({"flaskstack_tls": True, "nginx_acme": True, "nginx_acme_email": "ops@example.com",
      "flaskstack_server_name": "chat.example.com *.example.com 192.0.2.10"}, "dns_name", "nginx_acme"),
    ({"nginx_acme_ca_file": "/etc/pebble/../shadow"}, "path", "nginx_acme_ca_file"),
    # Settings that would silently do nothing
    ({"nginx_acme": True}, "noop", "nginx_acme"),
    ({"nginx_hsts": True}, "noop", "nginx_hsts"),
    ({"nginx_tls_self_signed": True}, "noop", "nginx_tls_self_signed"),
    ({"nginx_tls_certificate_file": "/etc/ssl/a.pem", "nginx_tls_certificate_key_file": "/etc/ssl/a.key"}, "noop",
     "nginx_tls_certificate_file"),
    ({"nginx_hsts_include_subdomains": True}, "noop", "nginx_hsts_include_subdomains"),
    ({"nginx_upstream_hash_key": "$request_uri"}, "noop", "nginx_upstream_hash_key"),
    ({"nginx_upstream_drained": ["10.9.9.9:8000"]}, "noop", "nginx_upstream_drained"),
    ({"flask_app_git_repo": "https://example.com/app.git"}, "noop", "flask_app_git_repo"),
    ({"flask_app_package_file": str(ROOT / "examples" / "models" / "chatbot-model.json")}, "noop", "flask_app_package_file"),
]

# Values per kind that must be accepted (the inventories' and examples' among them).
GOOD = {
    "name": ["chatbot", "support", "app-2", "my_app"],
    "account": ["chatbot", "support", "svc-chat", "_chat"],
    "server_names": ["_", "example.com", "chat.example.com www.example.com", "*.example.com", ".example.com",
                     "example.*", "192.0.2.10", "[::1]", "other.example.test", "~^(www\\.)?example\\.com$",
                     "~^(?<sub>[a-z]+)\\.example\\.com$", "localhost"],
    "url_prefix": ["/static/", "/media/", "/assets/v1/", "/~user/"],
    "url_path": ["/health", "/", "/api/v1/health", "/health-check", "/h%20x"],
    "path": ["/srv/chatbot/current/static", "/srv/chatbot/shared/media", "/var/www/acme", "/etc/flaskstack/chatbot.env",
             "/etc/letsencrypt/live/example.com/fullchain.pem", "/usr/bin/python3", "/srv/chatbot/shared/data"],
    "relative_path": ["instance", "uploads/images", "requirements.txt", "src", "chatbot-model.json", "models/v2.bin"],
    "base_dir": ["/srv/chatbot", "/srv/support", "/opt/chatbot", "/srv/apps/chatbot", "/var/www/chatbot",
                 "/var/lib/chatbot", "/home/deploy/chatbot", "/data/chatbot"],
    "size": ["75M", "1g", "64k", "0", "1024"],
    "duration": ["1s", "500ms", "1h30m", "30", "2d"],
    "expires": ["7d", "1h", "off", "epoch", "max", "-1", "modified 1d", "30s", "1y"],
    "tcp_address": ["127.0.0.1:8000", "[::1]:8000", "10.0.0.5:8001", "0.0.0.0:8000"],
    "upstream": ["127.0.0.1:8000", "127.0.0.1:8001", "[::1]:8000", "unix:/run/uwsgi/chatbot.sock", "app1:8000",
                 "10.0.0.5:65535"],
    "uwsgi_socket": ["127.0.0.1:8000", "/run/uwsgi/chatbot.sock", "[::1]:8000"],
    "group": ["www-data", "nginx", "_www", "web_proxy"],
    "hash_key": ["$request_uri", "$remote_addr", "$binary_remote_addr", "$host$request_uri", "$cookie_session",
                 "$arg_user_id", "$http_x_tenant"],
    "env_key": ["CHATBOT_MODEL_PATH", "SECRET_KEY", "FLASK_DEBUG", "DATABASE_URL", "_private", "lower_case"],
    "pip_requirement": ["flask", "Flask>=3.0", "requests[socks]==2.31.0", "uwsgi>=2.0.28", "numpy>=1.26,<2",
                        "gunicorn ~= 22.0", "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
                        "tomli; python_version < \"3.11\"", "zope.interface", "my_pkg!=1.2.*"],
    "git_url": ["https://github.com/example/app.git", "git@github.com:example/app.git", "ssh://git@example.com:2222/app.git",
                "git://example.com/app.git", "file:///srv/repos/app.git", "/srv/repos/app.git"],
    "git_version": ["main", "v1.2.3", "release/2026-12", "0123456789abcdef0123456789abcdef01234567", "feature_x"],
    "mode": ["0640", "0644", "0600", "0750", "640", "0440"],
    "email": ["ops@example.com", "first.last+certs@mail.example.co.uk", "ops@example.test", "ops@example.xn--p1ai"],
    "https_url": ["https://acme-v02.api.letsencrypt.org/directory", "https://acme-staging-v02.api.letsencrypt.org/directory",
                  "https://127.0.0.1:14000/dir", "https://ca.internal:8443/acme/acme/directory"],
    "dns_name": ["chat.example.com", "www.example.com", "other.example.test", "xn--bcher-kva.example", "a-b.c"],
    "ip_address": ["127.0.0.1", "10.0.0.5", "::1", "fd00::5"],
    "token": ["molecule-redis-password-0001", "0123456789abcdef0123456789abcdef", "A_b-" * 4],
    "unit": ["uwsgi-chatbot", "chatbot-workers.target", "app-worker-rq@1.service", "redis-server"],
    "program": ["celery", "rq", "flask", "python3.11", "/usr/bin/env", "/srv/app/current/bin/run-worker"],
    "command_arg": ["-A", "app.celery", "worker", "--app", "app_flask", "--concurrency=2", "-Q", "high,low",
                    "redis://:pw@127.0.0.1:6379/0", "/srv/app/shared/data"],
    "calendar": ["hourly", "daily", "*-*-* 03:00:00", "Mon *-*-* 08:00", "*:*:0/10", "*-*-01 00:00:00"],
}

# A representative set of the kinds the grammar also refuses outside the site table.
BAD = {
    "name": ["", "Chat", "1app", "a" * 33, "app\n"],
    "size": ["", "75 M", "75MB", "1t"],
    "duration": ["", "1 s", "1x", "s"],
    "tcp_address": ["", "8000", "host", "host:", ":8000", "a b:1", "app1.internal:8000", "localhost:8000"],
    "uwsgi_socket": ["relative.sock", "127.0.0.1:8000 --http :80", "localhost:8000", "app1.internal:8000"],
    "group": ["", "WWW", "www data", "www-data\n", "g" * 33, "-www"],
    "hash_key": ["", "$", "$request_uri $uri", "${request_uri}"],
    "email": ["", "ops", "ops@", "@example.com", "ops@example", "ops@example.com\n", "a b@example.com"],
    "https_url": ["", "https://", "ftp://example.com/", "https://example.com/a b", "https://example.com/?x=1"],
    "dns_name": ["", "_", "localhost", "*.example.com", "example.*", "~^x$", "10.0.0.1", "-a.example.com", "a..b"],
    "mode": ["", "777", "0777", "0602", "06400", 0o4755, True, None],
    "git_version": ["", "-b", "a//b", "a/", "HEAD@{1}"],
    "ip_address": ["", "localhost", "127.0.0.1:6379", "[::1]", "0.0.0.0 ; x"],
    "token": ["", "short", "a" * 129, "pass word-0123456789", "pw$(reboot)0123456789", "pw'0123456789abcdef"],
    "unit": ["", "-uwsgi", "a b.service", "x;reboot", "a/b.service"],
    "program": ["", "-c", "../bin/x", "celery worker", "rm;x", "relative/path"],
    "command_arg": ["", "a b", "$HOME", "%h", "'x'", "a;b", "`id`", "a\\b", "x\n"],
    "calendar": ["", "daily; rm -rf /", "$(id)", "x" * 65, "hourly\n"],
}


def test_the_table_has_every_class():
    assert len(HOSTILE) >= 100
    kinds = {kind for _, kind, _ in HOSTILE}
    expected = {"account", "base_dir", "server_names", "url_prefix", "path", "size", "duration", "expires", "upstream",
                "hash_key", "env_key", "pip_requirement", "git_url", "git_version", "mode", "relative_path", "loopback",
                "noop", "redirect"}
    assert expected <= kinds, expected - kinds
    keys = [json.dumps(case, sort_keys=True) for case, _, _ in HOSTILE]
    assert len(keys) == len(set(keys))


def _offending(case, kind):
    """The values of a case that the grammar of `kind` must refuse."""
    values = []
    for name, value in case.items():
        if name == "nginx_static_locations":
            entry = value[0]
            values = {"url_prefix": [entry["url"]], "path": [entry["path"]], "expires": [entry.get("expires", "7d")]}[kind]
        elif name == "nginx_upstream_servers":
            values = [entry["server"] for entry in value]
        elif name in ("flask_app_env", "flask_app_secrets"):
            values = list(value)
        elif name == "flask_app_artifacts":
            entry = value[0]
            values = [entry["mode"]] if kind == "mode" else [entry["dest"]]
        elif name == "flaskstack_app_name" and kind == "account":
            values = [value]
        elif name in ("flask_app_user", "flask_app_group"):
            values = [value]
        elif name == "flaskstack_server_name" and kind == "dns_name":
            values = value.split()
        elif name.endswith(("_name", "_base_dir", "_path", "_socket", "_size", "_buffer", "_flush", "_key", "_dirs",
                            "_workdir", "_packages", "_package", "_repo", "_version", "_email", "_directory", "_file")):
            if name == "flask_app_git_repo" and kind == "git_version":
                continue
            values = value if isinstance(value, list) else [value]
    return values


@pytest.mark.parametrize(
    ("case", "kind", "named"),
    [c for c in HOSTILE if c[1] not in ("loopback", "noop", "redirect")],
    ids=[f"{i:03d}-{c[1]}" for i, c in enumerate(HOSTILE) if c[1] not in ("loopback", "noop", "redirect")],
)
def test_the_grammar_refuses_the_hostile_value(case, kind, named):
    values = _offending(case, kind)
    assert values, case
    if named == "flask_app_env_allowed_keys":
        # Even listed in the opt-in, UWSGI_* is refused.
        assert grammar.grammar_refused(values, kind, allow=case["flask_app_env_allowed_keys"]) == values
        return
    refused = grammar.grammar_refused(values, kind)
    assert refused, f"{kind} let {values!r} through"


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_grammar_accepts_good_values(kind):
    assert grammar.grammar_refused(GOOD[kind], kind) == []
    assert grammar.grammar_allowed(kind)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_the_grammar_refuses_bad_values(kind):
    assert grammar.grammar_refused(BAD[kind], kind) == BAD[kind]


def test_every_kind_has_good_values_and_a_description():
    assert set(GOOD) == set(grammar.RULES)
    for kind in grammar.RULES:
        assert grammar.grammar_allowed(kind).strip()


def test_whole_values_only():
    # re.fullmatch, not a search with ^...$: no trailing newline gets through.
    for kind, values in GOOD.items():
        for value in values:
            if isinstance(value, str):
                assert grammar.grammar_refused(value + "\n", kind) == [value + "\n"], (kind, value)


def test_opt_in_env_keys():
    assert grammar.grammar_refused(["PYTHONUNBUFFERED"], "env_key", allow=["PYTHONUNBUFFERED"]) == []
    assert grammar.grammar_refused(["PYTHONUNBUFFERED"], "env_key") == ["PYTHONUNBUFFERED"]
    assert grammar.grammar_refused(["UWSGI_MASTER"], "env_key", allow=["UWSGI_MASTER"]) == ["UWSGI_MASTER"]


def test_the_connecting_user_is_refused():
    assert grammar.grammar_refused("deploy", "account", also=["deploy"]) == ["deploy"]
    assert grammar.grammar_refused("deploy", "account", also=[""]) == []


def test_an_unknown_kind_is_an_error():
    with pytest.raises(Exception, match="unknown kind"):
        grammar.grammar_refused("x", "colour")


# Through the check play. The cases are batched: a list or mapping variable's bad
# entries all in one run, single values of different variables together
# (each check reports every bad value at once), so that every class runs
# through the real check play in about 30 runs. Cases that need other
# settings (git, hash, TLS), or whose variable one refusal would hide
# behind another, run alone, at most two per variable and kind.
_SOLO = {"flaskstack_app_name", "flask_app_git_repo", "flask_app_package_file", "nginx_upstream_hash_key",
         "flaskstack_uwsgi_socket", "nginx_upstream_drained", "nginx_hsts", "nginx_tls_self_signed",
         "nginx_hsts_include_subdomains"}


def _batches():
    merged, scalars, solo, seen = {}, [], [], {}
    for case, kind, named in HOSTILE:
        (name, value), = case.items() if len(case) == 1 else ((None, None),)
        if name and name not in _SOLO and isinstance(value, (list, dict)):
            batch = merged.setdefault(name, {"settings": {name: type(value)()}, "cases": []})
            if isinstance(value, dict):
                batch["settings"][name].update(value)
            else:
                batch["settings"][name].extend(value)
            batch["cases"].append((case, kind, named))
        elif name and name not in _SOLO:
            # Only variables of the same check task: a failed task hides the next ones.
            check = "flask_app" if name.startswith("flask_app_") else name.split("_")[0]
            target = next((b for b in scalars if b["check"] == check and name not in b["settings"]), None)
            if target is None:
                target = {"check": check, "settings": {}, "cases": []}
                scalars.append(target)
            target["settings"][name] = value
            target["cases"].append((case, kind, named))
        else:
            family = (tuple(sorted(case)), kind)
            if seen.get(family, 0) < 2:
                seen[family] = seen.get(family, 0) + 1
                solo.append({"settings": case, "cases": [(case, kind, named)]})
    # The first two batches of each check.
    firsts = [b for i, b in enumerate(scalars) if [c["check"] for c in scalars[:i]].count(b["check"]) < 2]
    return list(merged.values()) + firsts + solo


SITE_RUNS = _batches()


def _normalised(text):
    return " ".join(text.split()).replace("''", "'")


def test_the_site_runs_cover_every_class():
    kinds = {kind for run in SITE_RUNS for _, kind, _ in run["cases"]}
    assert kinds == {kind for _, kind, _ in HOSTILE}
    assert sum(len(run["cases"]) for run in SITE_RUNS) >= 100
    assert len(SITE_RUNS) <= 41, len(SITE_RUNS)


@pytest.mark.parametrize("runs", batches(SITE_RUNS),
                         ids=[f"{i * PER_RUN:02d}-{b[0]['cases'][0][2]}" for i, b in enumerate(batches(SITE_RUNS))])
def test_hostile_settings_are_refused_before_any_connection(run_ansible, tmp_path, runs):
    # Each run of the batch is one server's settings (test_site_settings.refused_each).
    result, out, messages = refused_each(run_ansible, tmp_path, [run["settings"] for run in runs])
    assert_refused_before_any_server(result, out, "")
    for run, message in zip(runs, messages):
        text = _normalised(message or "")
        for _, kind, named in run["cases"]:
            assert named in text, f"{run['settings']}: no refusal naming {named}: {message}\n{out}"
            # The message says what is allowed (its first words, as the grammar gives them).
            if kind in grammar.RULES:
                allowed = " ".join(grammar.grammar_allowed(kind).split()[:6])
                assert allowed in text, f"{named}: '{allowed}' not in\n{message}"


def test_second_app_example_passes_the_checks(run_ansible):
    result = run_ansible(["ansible-playbook", "playbooks/check.yml", "-i", "tests/inventory", "-e", "@examples/second-app.yml"],
                         timeout=120)
    out = result.stdout + result.stderr
    assert passed_the_checks(result, out), out
