FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The image is production: it refuses to start without SECRET_KEY and FIELD_ENCRYPTION_KEYS
# instead of falling back to DEBUG with a development key derived from its path.
ENV DEBUG=0
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput -v 0
RUN useradd --create-home instaclone && mkdir -p /app/media && chown -R instaclone /app/media
USER instaclone
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "asgi:application"]
