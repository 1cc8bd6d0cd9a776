"""A small, bounded HTTP load client for the deploy tests.

Several threads send GET requests to the given loopback targets, each on a
fresh connection with a short pause between requests (so the load lasts as
long as the deploy it watches), and count every answer: 2xx, other statuses,
connection errors. It stops by itself after max_requests or max_seconds,
whichever comes first, so a test can never leave it running.

    with LoadClient([("127.0.0.1", 18090)], path="/") as load:
        ...deploy...
    report = load.report()
"""

import collections
import http.client
import json
import ssl
import threading
import time


class LoadClient:
    def __init__(
        self, targets, path="/", concurrency=4, max_requests=60000, max_seconds=180, timeout=30, pause=0.02, headers=None, tls=False
    ):
        self.targets = list(targets)
        self.path = path
        self.headers = dict(headers or {})
        # HTTPS without certificate checks: what is measured is the answers.
        self.tls = ssl._create_unverified_context() if tls else None
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.pause = pause  # seconds each thread waits between requests, to spread the load over time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._sent = 0
        self.ok = 0
        self.longest = 0.0  # seconds, the slowest answer (2xx or not)
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self.versions = collections.Counter()
        self.timeline = []  # (seconds since start, version) each time the version changes
        self.per_target = collections.Counter()
        self.hosts = collections.Counter()  # which app server answered (the app's "host" field)
        self.started = None
        self.elapsed = 0.0

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.started = time.monotonic()
        for number in range(self.concurrency):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.elapsed = time.monotonic() - self.started

    def _next(self):
        with self._lock:
            if self._sent >= self.max_requests or time.monotonic() - self.started > self.max_seconds:
                return None
            self._sent += 1
            return self._sent

    def _run(self, number):
        while not self._stop.is_set():
            count = self._next()
            if count is None:
                return
            host, port = self.targets[(count + number) % len(self.targets)]
            self._one(host, port)
            self._stop.wait(self.pause)

    def _one(self, host, port):
        if self.tls:
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        sent = time.monotonic()
        try:
            conn.request("GET", self.path, headers=self.headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            with self._lock:
                self.errors[type(exc).__name__] += 1
            return
        finally:
            conn.close()
        version = host_name = None
        if 200 <= resp.status < 300:
            try:
                answer = json.loads(body)
                version, host_name = str(answer.get("version")), answer.get("host")
            except (ValueError, AttributeError):
                version = None
        took = time.monotonic() - sent
        with self._lock:
            self.longest = max(self.longest, took)
            self.per_target[f"{host}:{port}"] += 1
            if 200 <= resp.status < 300:
                self.ok += 1
                self.versions[version] += 1
                if host_name:
                    self.hosts[host_name] += 1
                if not self.timeline or self.timeline[-1][1] != version:
                    self.timeline.append((round(time.monotonic() - self.started, 2), version))
            else:
                self.statuses[resp.status] += 1

    @property
    def failed(self):
        return sum(self.statuses.values()) + sum(self.errors.values())

    def summary(self):
        """The report with the version timeline cut to its first and last changes (for printing)."""
        report = self.report()
        timeline = report["timeline"]
        if len(timeline) > 6:
            report["timeline"] = timeline[:3] + [f"... {len(timeline) - 6} more changes ..."] + timeline[-3:]
        return report

    def report(self):
        return {
            "requests": self.ok + self.failed,
            "ok": self.ok,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "versions": dict(self.versions),
            "timeline": self.timeline,
            "per_target": dict(self.per_target),
            "hosts": dict(self.hosts),
            "seconds": round(self.elapsed, 1),
            "longest": round(self.longest, 2),
        }
