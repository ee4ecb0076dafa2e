# The front door API: migrations on start, then uvicorn with several workers.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 frontdoor
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY schemas ./schemas
COPY triage ./triage
COPY api ./api
COPY migrations ./migrations
RUN pip install .

USER frontdoor
ENV ENVIRONMENT=production \
    WORKERS=4 \
    PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"

CMD ["sh", "-c", "frontdoor migrate && exec frontdoor serve --host 0.0.0.0 --port ${PORT} --workers ${WORKERS}"]
