#!/bin/sh
# The hand-made setup the collection replaces, reproduced literally for the
# serving benchmark (bench/serving.py runs it inside a fresh container, with
# the example app copied to /root/chatbot). Not for production: uWSGI and
# gunicorn are started by hand and nothing restarts them.
#   nginx :80 -> uWSGI 127.0.0.1:8000 (the baseline)
#   nginx :81 -> gunicorn 127.0.0.1:8200 (4 gthread workers, 2 threads each)
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q nginx python3-venv python3-dev gcc libpcre2-dev wrk >/dev/null

cd /root/chatbot
python3 -m venv venv
venv/bin/pip install -q -r requirements.txt uwsgi==2.0.31 gunicorn==27.0.1

cat >uwsgi.ini <<'INI'
[uwsgi]
socket = 127.0.0.1:8000
chdir = /root/chatbot
module = app_flask:app
master = true
processes = 4
threads = 2
INI

cat >/etc/nginx/sites-available/default <<'SITE'
server {
    listen 80 default_server;
    server_name _;
    location / {
        include uwsgi_params;
        uwsgi_pass 127.0.0.1:8000;
    }
}
server {
    listen 81 default_server;
    server_name _;
    location / {
        proxy_pass http://127.0.0.1:8200;
        proxy_set_header Host $host;
    }
}
SITE
nginx -t
systemctl reload nginx

export CHATBOT_MODEL_PATH=/root/chatbot/model.json
nohup venv/bin/uwsgi --ini uwsgi.ini >uwsgi.log 2>&1 &
nohup venv/bin/gunicorn --workers 4 --worker-class gthread --threads 2 --bind 127.0.0.1:8200 app_flask:app >gunicorn.log 2>&1 &
sleep 3
