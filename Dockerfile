# The app image. BASE_IMAGE is any Python 3.11 with venv: the public python:3.11-slim by
# default, or the Debian-built one from scripts/build-base-images.sh where no registry is
# reachable. PIP_INDEX_URL (optional) points pip at another package index.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG PIP_INDEX_URL=
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
# The image is production: it refuses to start without SECRET_KEY and FIELD_ENCRYPTION_KEYS
# instead of falling back to DEBUG with a development key derived from its path.
ENV DEBUG=0
WORKDIR /app
COPY requirements.txt .
RUN if [ -z "$PIP_INDEX_URL" ]; then unset PIP_INDEX_URL; fi \
    && python3 -m venv /opt/venv \
    && pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput -v 0
RUN useradd --create-home instaclone && mkdir -p /app/media /app/exports && chown -R instaclone /app/media /app/exports
USER instaclone
EXPOSE 8000
# A listen queue of 1,024 (daphne's default is 50): a burst of reconnects after a node restart is
# not dropped before the gateway sees it.
CMD ["daphne", "-e", "tcp:port=8000:interface=0.0.0.0:backlog=1024", "--proxy-headers", "asgi:application"]
