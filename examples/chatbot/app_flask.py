"""A small chat bot: the default app of the flaskstack.deploy demo and tests.

Its replies come from a "trained model" file that is deployed as an artifact,
not shipped with the code. The path of that file comes from the environment
(CHATBOT_MODEL_PATH), which flaskstack writes into the app's environment file.
"""

import json
import os
import re
import socket
import time

from flask import Flask, jsonify, request

VERSION = "1"
MODEL_PATH = os.environ.get("CHATBOT_MODEL_PATH", "model.json")
UPLOAD_CHUNK = 1024 * 1024
# Which server answered: behind a load balancer, tells the app servers apart.
HOST = socket.gethostname()


def load_model(path):
    """Read the model file; fail loudly at import so uWSGI's need-app stops a bad deploy."""
    with open(path, encoding="utf-8") as handle:
        model = json.load(handle)
    if not isinstance(model.get("intents"), list) or "fallback" not in model:
        raise ValueError(f"{path}: a model needs 'intents' (a list) and 'fallback'")
    return model


MODEL = load_model(MODEL_PATH)
app = Flask(__name__)
# Signs session cookies. It comes from the vault (flask_app_secrets)
# through the environment file, never from the code.
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")


def reply_for(message):
    words = set(re.findall(r"[a-z0-9']+", message.lower()))
    best, best_score = None, 0
    for intent in MODEL["intents"]:
        score = len(words & set(intent.get("keywords", [])))
        if score > best_score:
            best, best_score = intent, score
    return best["reply"] if best else MODEL["fallback"]


@app.get("/")
def index():
    return jsonify(app="chatbot", version=VERSION, model=MODEL.get("name", "unnamed"), host=HOST)


@app.get("/health")
def health():
    return jsonify(status="ok", version=VERSION, host=HOST)


@app.post("/api/chat")
def chat():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return jsonify(error='send JSON like {"message": "hello"}'), 400
    answer = jsonify(reply=reply_for(payload["message"]), model=MODEL.get("name", "unnamed"))
    # The app sets this header itself (stricter than the site's SAMEORIGIN):
    # nginx adds its own only to answers that do not carry one.
    answer.headers["X-Frame-Options"] = "DENY"
    return answer


@app.get("/api/slow")
def slow():
    """Answer after ?ms= milliseconds (at most 5 s), like a slow model inference."""
    delay = min(max(request.args.get("ms", default=1000, type=int), 0), 5000)
    time.sleep(delay / 1000)
    return jsonify(version=VERSION, slept_ms=delay)


@app.post("/api/upload")
def upload():
    """Count the bytes of a request body without holding it in memory."""
    received = 0
    stream = request.stream
    while True:
        chunk = stream.read(UPLOAD_CHUNK)
        if not chunk:
            break
        received += len(chunk)
    return jsonify(received=received)


# Background jobs (RQ on Redis, from REDIS_URL: flaskstack_redis sets it).
# A job runs in a background worker started by `flask --app app_flask worker`
# (the inventory's uwsgi_background_workers), with the code of the release
# that worker runs: the result names that version.


def version_job(seconds=0.0):
    """A job that takes SECONDS and returns which code version ran it, and when."""
    started = time.time()
    time.sleep(seconds)
    return {"version": VERSION, "host": HOST, "pid": os.getpid(), "started": started, "ended": time.time()}


def job_queue():
    """The queue, or None when the app has no Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    from redis import Redis
    from rq import Queue

    return Queue("default", connection=Redis.from_url(url))


@app.post("/api/jobs")
def enqueue_job():
    """Queue version_job(?seconds=, at most 30); answers the job's id."""
    queue = job_queue()
    if queue is None:
        return jsonify(error="no job queue: REDIS_URL is not set"), 503
    seconds = min(max(request.args.get("seconds", default=0.0, type=float), 0.0), 30.0)
    job = queue.enqueue(version_job, seconds, job_timeout=120, result_ttl=3600, failure_ttl=3600)
    return jsonify(id=job.id), 202


@app.get("/api/jobs/<job_id>")
def job_state(job_id):
    """A job's status (queued, started, finished, failed...) and, once finished, its result."""
    queue = job_queue()
    if queue is None:
        return jsonify(error="no job queue: REDIS_URL is not set"), 503
    job = queue.fetch_job(job_id)
    if job is None:
        return jsonify(error="no such job"), 404
    status = job.get_status(refresh=True)
    return jsonify(id=job.id, status=str(getattr(status, "value", status)), result=job.return_value())


@app.cli.command("worker")
def worker_command():
    """Process the queue's jobs until SIGTERM (after the job in progress)."""
    from rq import Worker

    queue = job_queue()
    if queue is None:
        raise SystemExit("no job queue: REDIS_URL is not set")
    Worker([queue], connection=queue.connection).work()


@app.cli.command("heartbeat")
def heartbeat_command():
    """A scheduled job: note the time and the code version in the instance directory."""
    beat = {"version": VERSION, "time": time.time()}
    os.makedirs(app.instance_path, exist_ok=True)
    with open(os.path.join(app.instance_path, "heartbeat.json"), "w", encoding="utf-8") as handle:
        json.dump(beat, handle)
    print(f"heartbeat: version {VERSION}")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
