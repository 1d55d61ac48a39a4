FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
# Configure with DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS (see README).
# The worker class answers gunicorn's own errors (414, 431, malformed requests) in the API's JSON error shape.
CMD ["gunicorn", "registry_project.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", \
     "--worker-class", "registry_project.gunicorn_errors.JsonErrorSyncWorker"]
