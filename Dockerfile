# CRM Scorecard: the product's own wheel on a slim Python, run as a user without privileges.
#   docker build -t crm-scorecard .
#   docker compose up -d        (compose.yaml: PostgreSQL and the web server; see README)

# -- build: the product's wheel and the wheels of everything it needs ---------------------
FROM python:3.13-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE requirements.lock ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock ".[redis]"

# -- run ------------------------------------------------------------------------------------
FROM python:3.13-slim
# WeasyPrint (PDF board packs) needs Pango and a font; nothing else comes from Debian.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
# Installed from the wheels of the build stage, mounted for this step only (no copy kept).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "crm-scorecard[redis]"
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home crm
USER crm
WORKDIR /data
# /data holds the metrics engine's columnar mirror and the file cache: a volume in compose.
ENV DJANGO_SETTINGS_MODULE=crm_scorecard.settings.production \
    CRM_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["crm-scorecard", "serve", "--host", "0.0.0.0", "--port", "8000"]
