# modelcycle prediction server (and retraining worker) image; see docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MODELCYCLE_HOME=/var/lib/modelcycle

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[s3,cluster]" && rm -rf /src

# A fixed non-root user owning only the workspace folder.
RUN useradd --system --uid 10001 --home-dir /var/lib/modelcycle --create-home modelcycle
USER 10001
WORKDIR /var/lib/modelcycle

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]

ENTRYPOINT ["modelcycle"]
CMD ["serve", "--host", "0.0.0.0", "--allow-remote", "--port", "8000"]
