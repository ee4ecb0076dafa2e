# The front door API: migrations on start, then uvicorn with several workers.

# The staff pages' GOV.UK Frontend and htmx files, from the npm registry exactly as package-lock.json pins them.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts/vendor-assets.sh ./scripts/
RUN scripts/vendor-assets.sh /build/vendor

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
COPY --from=assets /build/vendor ./api/static/vendor
RUN pip install .

USER frontdoor
ENV ENVIRONMENT=production \
    WORKERS=4 \
    PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"

CMD ["sh", "-c", "frontdoor migrate && exec frontdoor serve --host 0.0.0.0 --port ${PORT} --workers ${WORKERS}"]
