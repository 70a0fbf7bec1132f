# grok2api in a container: `docker build -t grok2api .` then
# `docker run -p 8000:8000 -v grok2api-data:/data grok2api` (docker-compose.yml does the same).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    PORT=8000 \
    SERVER_HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY quart_app ./quart_app
COPY addons ./addons
COPY state ./state
COPY ops ./ops
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /data --no-create-home grok2api \
 && mkdir -p /data && chown grok2api /data

# accounts (SQLite unless DATABASE_URL is set), config.toml, logs and cached media
VOLUME ["/data"]
USER grok2api
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"

# SIGTERM starts a graceful stop: open streams get up to 25 s to finish, so give the
# container more than that before it is killed (`docker stop -t 30`, compose's
# stop_grace_period)
STOPSIGNAL SIGTERM
# the Procfile's command: `SERVER_HOST=0.0.0.0 grok2api serve` (SERVER_HOST is set above)
CMD ["grok2api", "serve"]
