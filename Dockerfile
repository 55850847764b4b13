# One image for the collector and every Airflow service, installed from the same lock as the local path.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/analytics:/opt/analytics/include:/opt/analytics/clients/python/src \
    AIRFLOW_HOME=/opt/airflow
WORKDIR /opt/analytics

RUN apt-get update && apt-get install -y --no-install-recommends curl libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 analytics && mkdir -p /opt/airflow && chown analytics /opt/airflow

COPY requirements.txt ./
RUN pip install --no-cache-dir uv==0.13.9 && uv pip install --system --no-cache -r requirements.txt

COPY include ./include
COPY clients/python/src ./clients/python/src
COPY ingest_api ./ingest_api
COPY dags ./dags
COPY plugins ./plugins
COPY gunicorn.conf.py* ./

USER analytics
EXPOSE 8000 8080
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "ingest_api.wsgi:app"]
