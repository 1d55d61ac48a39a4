FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
# Configure with DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS (see docs/configuration.md).
# gunicorn.conf.py: workers (WEB_CONCURRENCY), timeouts, and multiprocess metrics (docs/production.md).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "registry_project.wsgi:application"]
