"""The allow-list grammar: one rule per kind of value, used by every role and check.

Every value that reaches a config file, a command line, a path or an account is
matched in full (Python's re.fullmatch: no trailing newline gets through)
against the rule of its kind. Documented in grammar_refused.yml and
grammar_allowed.yml next to this file; the kinds and what each allows are the
table RULES below.
"""

import ipaddress
import re

from ansible.errors import AnsibleFilterError

# Building blocks
_SEGMENT = r"[A-Za-z0-9_.@+-]+"
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
_IPV6 = r"\[[0-9A-Fa-f:.]{2,45}\]"
_IPV4 = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_PORT = r"[0-9]{1,5}"
_DURATION = r"[0-9]{1,9}|(?:[0-9]{1,9}(?:ms|[smhdwMy]))+"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_VERSION_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9_.*+!-]+"
_URL_CHARS = r"[A-Za-z0-9._~:/?#@!&*+,=%-]+"
_HASH_VARIABLES = (
    "request_uri|uri|document_uri|args|query_string|remote_addr|binary_remote_addr|realip_remote_addr|"
    "host|http_host|server_name|scheme|request_method|server_port|"
    "(?:arg|cookie|http)_[A-Za-z0-9_]{1,64}"
)

# Accounts the app must never be: the cloud images' login users, nginx's and
# the system's own accounts and groups (as named on Debian, Ubuntu and the
# usual cloud images), and every systemd-* one.
DENIED_ACCOUNTS = frozenset(
    """root daemon bin sys sync games man lp mail news uucp proxy www-data www backup list irc gnats nobody nogroup
    _apt messagebus sshd syslog uuidd tcpdump tss polkitd landscape pollinate usbmux dnsmasq lxd _chrony chrony ntp
    postfix exim Debian-exim statd avahi colord rtkit nginx apache http postgres mysql redis
    ubuntu debian admin ec2-user centos fedora cloud-user opc vagrant ansible
    sudo adm wheel shadow disk docker staff users operator kmem tty utmp video audio plugdev netdev input render kvm
    crontab dialout cdrom floppy tape dip voice src sasl scanner ssh ssl-cert lpadmin sambashare""".split()
)
DENIED_ACCOUNT_PREFIXES = ("systemd-",)

# Environment variables that change how uWSGI, the interpreter or the dynamic
# loader runs. UWSGI_* is never accepted (uWSGI reads it as its own options),
# nor FLASKSTACK_ENV_KEYS (the keys files/flaskstack_env.py set, its own);
# the others only when the caller's opt-in list (flask_app_env_allowed_keys)
# names them.
ENV_NEVER_PREFIXES = ("UWSGI_", "FLASKSTACK_ENV_KEYS")
ENV_DENIED_PREFIXES = ("PYTHON", "LD_", "MALLOC_", "GLIBC_", "DYLD_")
ENV_DENIED = frozenset("PATH GCONV_PATH GETCONF_DIR HOSTALIASES LOCALDOMAIN LOCPATH NLSPATH RES_OPTIONS TZDIR".split())

# The app's base directory: never one of these trees or inside them.
SYSTEM_TREES = frozenset(
    "bin boot dev etc lib lib32 lib64 libx32 lost+found proc root run sbin snap sys tmp usr".split()
)
# Under these, only two levels further down (/var/www/<app>, /home/<user>/<app>).
SHARED_TREES = {"var": ("www", "lib", "opt"), "home": None}


def _fullmatch(pattern):
    compiled = re.compile(pattern)
    return lambda value, **_: compiled.fullmatch(value) is not None


def _path(value, **_):
    if not re.fullmatch(rf"(?:/{_SEGMENT})+", value):
        return False
    return not any(part in (".", "..") for part in value.split("/")[1:])


def _relative_path(value, **_):
    if not re.fullmatch(rf"{_SEGMENT}(?:/{_SEGMENT})*", value):
        return False
    return not any(part in (".", "..") for part in value.split("/"))


def _base_dir(value, **_):
    if not _path(value):
        return False
    parts = value.split("/")[1:]
    if len(parts) < 2 or parts[0] in SYSTEM_TREES:
        return False
    if parts[0] in SHARED_TREES:
        below = SHARED_TREES[parts[0]]
        return len(parts) >= 3 and (below is None or parts[1] in below)
    return True


def _port_ok(port):
    return 1 <= int(port) <= 65535


def _tcp_address(value, **_):
    match = re.fullmatch(rf"({_HOST}|{_IPV6}):({_PORT})", value)
    return bool(match) and _port_ok(match.group(2))


def _upstream(value, **_):
    if value.startswith("unix:"):
        return _path(value[len("unix:"):])
    return _tcp_address(value)


def _ip_port(value, **_):
    match = re.fullmatch(rf"({_IPV4}|{_IPV6}):({_PORT})", value)
    return bool(match) and _port_ok(match.group(2))


def _uwsgi_socket(value, **_):
    return _ip_port(value) or _path(value)


def _server_name(value, **_):
    if value.startswith("~"):
        return re.fullmatch(r"~(?:[A-Za-z0-9_.*+?^$()|\[\]:<>!,-]|\\[.\-*+?()\[\]^$|dwsDWS]){1,253}", value) is not None
    return re.fullmatch(rf"_|(?:\*\.|\.)?{_HOST}(?:\.\*)?|{_IPV6}", value) is not None and len(value) <= 253


def _server_names(value, **_):
    return all(_server_name(name) for name in value.split(" "))


def _account(value, also=(), **_):
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        return False
    if value in DENIED_ACCOUNTS or value.startswith(DENIED_ACCOUNT_PREFIXES):
        return False
    return value not in [str(name) for name in also if name]


def _env_key(value, allow=(), **_):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        return False
    upper = value.upper()
    if upper.startswith(ENV_NEVER_PREFIXES):
        return False
    if upper in ENV_DENIED or upper.startswith(ENV_DENIED_PREFIXES):
        return value in list(allow)
    return True


def _pip_requirement(value, **_):
    name = rf"{_NAME}(?:\s*\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\])?"
    versions = rf"\s*{_VERSION_CLAUSE}(?:\s*,\s*{_VERSION_CLAUSE})*"
    url = rf"\s*@\s*(?:https?|file|git\+https?|git\+ssh)://{_URL_CHARS}"
    marker = r"\s*;\s*[A-Za-z0-9_.<>=!~'\" ()-]+"
    return re.fullmatch(rf"{name}(?:{versions}|{url})?(?:{marker})?", value) is not None


def _git_url(value, **_):
    url = r"(?:https?|ssh|git|git\+ssh|file)://[A-Za-z0-9._~%+:@/-]+"
    scp = rf"(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?{_HOST}:[A-Za-z0-9_~][A-Za-z0-9._~/+-]*"
    return re.fullmatch(f"{url}|{scp}", value) is not None or _path(value)


def _git_version(value, **_):
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}", value):
        return False
    return ".." not in value and "//" not in value and not value.endswith(("/", ".", ".lock"))


def _mode(value, **_):
    if isinstance(value, int) and not isinstance(value, bool):
        bits = value
    elif isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value):
        bits = int(value, 8)
    else:
        return False
    return bits & 0o7002 == 0


def _dns_name(value, **_):
    label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    if len(value) > 253 or not re.fullmatch(rf"{label}(?:\.{label})+", value):
        return False
    return not re.fullmatch(r"[0-9.]+", value)


def _ip_address(value, **_):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value


def _program(value, **_):
    return bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}", value)) or _path(value)


# kind: (check, what is allowed). Each check gets the value as a string
# (a mode may be an int), and the filter's keyword options.
RULES = {
    "name": (
        _fullmatch(r"[a-z][a-z0-9_-]{0,31}"),
        "lowercase letters, digits, '-' and '_', starting with a letter, at most 32 characters",
    ),
    "account": (
        _account,
        "a new system account's name (lowercase letters, digits, '-' and '_', at most 32 characters), not root, nginx's "
        "user (www-data), the user Ansible connects as, nor a system or login account (daemon, nobody, ubuntu, admin, "
        "systemd-*, ...: the list is in docs/safety.md)",
    ),
    "group": (
        _fullmatch(r"[a-z_][a-z0-9_-]{0,31}"),
        "an existing group's name (lowercase letters, digits, '-' and '_', starting with a letter or '_', at most 32 characters)",
    ),
    "server_names": (
        _server_names,
        "host names separated by single spaces: example.com, *.example.com, .example.com, example.*, an IP address, "
        "'_' for any, or a regex starting with '~' without spaces, quotes, ';', '{', '}' or '#'",
    ),
    "url_prefix": (
        _fullmatch(r"/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)+"),
        "a URL path that starts and ends with '/', other than '/', of letters, digits and . _ ~ - (e.g. /static/)",
    ),
    "url_path": (
        _fullmatch(r"/(?:[A-Za-z0-9._~!&()*+,=:@/-]|%[0-9A-Fa-f]{2})*"),
        "a URL path starting with '/' (e.g. /health), without spaces, quotes, '$', ';' or '?'",
    ),
    "path": (
        _path,
        "an absolute, normalised path other than '/' (no '.' or '..' parts, no '//', no trailing '/'), of letters, "
        "digits and . _ @ + -",
    ),
    "relative_path": (
        _relative_path,
        "a relative path inside its directory (no leading '/', no '.' or '..' parts, no '//'), of letters, digits "
        "and . _ @ + -",
    ),
    "base_dir": (
        _base_dir,
        "an absolute, normalised path of letters, digits and . _ @ + - (no '.' or '..' parts), at least two levels "
        "deep under a directory such as /srv or /opt (default /srv/<app>); not a system directory nor inside one "
        "(/bin, /boot, /dev, /etc, /lib*, /proc, /root, /run, /sbin, /snap, /sys, /tmp, /usr), and under /var or "
        "/home only below /var/www/, /var/lib/, /var/opt/ or /home/<user>/",
    ),
    "size": (_fullmatch(r"[0-9]{1,12}[kKmMgG]?"), "a size in bytes with an optional k, m or g suffix (e.g. 75M)"),
    "duration": (_fullmatch(_DURATION), "an nginx time like 500ms, 30s, 1h or 1h30m"),
    "expires": (
        _fullmatch(rf"off|epoch|max|(?:modified )?-?(?:{_DURATION})"),
        "an nginx expires time: off, epoch, max, or a time like 7d, 1h30m or -1 (optionally after 'modified ')",
    ),
    "tcp_address": (
        _ip_port,
        "an IP address and port, IPv4:port or [IPv6]:port (port 1-65535); no host name (systemd binds uWSGI's socket)",
    ),
    "upstream": (
        _upstream,
        "host:port, [IPv6]:port (port 1-65535) or unix:/absolute/path (letters, digits and . _ @ + -)",
    ),
    "uwsgi_socket": (
        _uwsgi_socket,
        "IPv4:port or [IPv6]:port (port 1-65535; no host name: systemd binds the socket) or the absolute path of a "
        "unix socket (letters, digits and . _ @ + -)",
    ),
    "hash_key": (
        _fullmatch(rf"(?:\$(?:{_HASH_VARIABLES}))+"),
        "one or more nginx variables, written together, from $request_uri, $uri, $document_uri, $args, $query_string, "
        "$remote_addr, $binary_remote_addr, $realip_remote_addr, $host, $http_host, $server_name, $scheme, "
        "$request_method, $server_port, $arg_NAME, $cookie_NAME and $http_NAME",
    ),
    "env_key": (
        _env_key,
        "environment variable names (letters, digits and '_', not starting with a digit); never UWSGI_* (uWSGI reads "
        "those as its own options) nor FLASKSTACK_ENV_KEYS (flaskstack's own), and not PATH, PYTHON*, LD_*, MALLOC_*, GLIBC_*, GCONV_PATH and the like, which "
        "change how the interpreter or the loader runs, unless flask_app_env_allowed_keys lists them",
    ),
    "pip_requirement": (
        _pip_requirement,
        "PEP 508 requirements: a name with optional [extras], version clauses (==, >=, ~=, ...) or '@ URL', and an "
        "optional '; marker'; never a pip option (-e, -r, --index-url=...) or a local path",
    ),
    "git_url": (
        _git_url,
        "a repository URL (https://, ssh://, git://, file://), user@host:path, or an absolute path; never an option "
        "(leading '-') or another transport (ext::...)",
    ),
    "git_version": (
        _git_version,
        "a branch, tag or commit: letters, digits and . _ / + -, not starting with '-' (no '..', '//', '@{', no "
        "trailing '/', '.' or '.lock')",
    ),
    "email": (
        _fullmatch(rf"[A-Za-z0-9][A-Za-z0-9._%+-]{{0,63}}@{_HOST}\.(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"),
        "an e-mail address like ops@example.com (letters, digits and . _ % + - before the '@', a domain after it)",
    ),
    "https_url": (
        _fullmatch(rf"https://{_HOST}(?::{_PORT})?(?:/[A-Za-z0-9._~%+=-]*)*"),
        "an https:// URL of a host name or address, an optional port and a path of letters, digits and . _ ~ % + = - "
        "(no query, no credentials)",
    ),
    "dns_name": (
        _dns_name,
        "a host name with at least one dot, of letters, digits and '-' (e.g. www.example.com); no wildcard, regex or "
        "IP address",
    ),
    "ip_address": (
        _ip_address,
        "an IPv4 or IPv6 address, without brackets or port (e.g. 127.0.0.1, ::1, 10.0.0.5)",
    ),
    "token": (
        _fullmatch(r"[A-Za-z0-9_-]{16,128}"),
        "16 to 128 letters, digits, '_' and '-' (e.g. from: openssl rand -hex 24)",
    ),
    "unit": (
        _fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.@:-]{0,127}"),
        "a systemd unit name of letters, digits and _ . @ : - (e.g. uwsgi-app or app-workers.target)",
    ),
    "program": (
        _program,
        "a program of the app's virtualenv (letters, digits and . _ + -, e.g. celery) or an absolute path",
    ),
    "command_arg": (
        _fullmatch(r"[A-Za-z0-9_./:=@+,-]{1,256}"),
        "one argument of letters, digits and . _ / : = @ + , - (no spaces, quotes, '$' or '%'; secrets go in the "
        "environment)",
    ),
    "calendar": (
        _fullmatch(r"[A-Za-z0-9*:/.,~ -]{1,64}"),
        "a systemd calendar event (OnCalendar) of letters, digits, spaces and * : / . , ~ -, e.g. hourly or "
        "'*-*-* 03:00:00'",
    ),
    "mode": (
        _mode,
        "an octal mode as a quoted string like '0640', without setuid, setgid or sticky bits and not world-writable",
    ),
}


def _rule(kind):
    try:
        return RULES[kind]
    except (KeyError, TypeError):
        raise AnsibleFilterError(f"grammar: unknown kind {kind!r}, not one of {', '.join(sorted(RULES))}") from None


def grammar_refused(values, kind, **options):
    """The values of `values` (one value or a list) that the rule of `kind` refuses."""
    check = _rule(kind)[0]
    if values is None or isinstance(values, (str, int, bytes)) or not hasattr(values, "__iter__") or isinstance(values, dict):
        values = [values]
    refused = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, int) and kind != "mode"):
            refused.append(value)
        elif not check(value if kind == "mode" else str(value), **options):
            refused.append(value)
    return refused


def grammar_allowed(kind):
    """What the rule of `kind` allows, for the messages."""
    return _rule(kind)[1]


class FilterModule:
    def filters(self):
        return {"grammar_refused": grammar_refused, "grammar_allowed": grammar_allowed}
