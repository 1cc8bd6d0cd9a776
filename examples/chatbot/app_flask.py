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


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
