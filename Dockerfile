# Escalator in HTTP mode: `python app.py` runs the web process and the delivery process, supervised;
# `escalator web` and `escalator deliver` run one each (docker-compose.yml does).
#   docker build -t escalator .
#   docker run --env-file .env -v "$PWD/policy.yml:/config/policy.yml:ro" -v escalator-data:/data -p 3000:3000 escalator
# docker-compose.yml runs it with PostgreSQL. README.md, "Deployment", says what each setting does.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The README's install step, `pip install -e .`, on the project's files.
COPY pyproject.toml README.md app.py manifest.yml policy.example.yml ./
COPY src ./src
COPY templates ./templates
RUN pip install -e . \
    && useradd --create-home --uid 10001 escalator \
    && mkdir -p /data /config \
    && chown escalator /data

USER escalator
# SQLite in the /data volume unless DATABASE_URL says otherwise; several workers; one JSON object per
# log line. The policy is mounted at /config/policy.yml; the Slack secrets come from the environment.
ENV PORT=3000 \
    ESCALATOR_WORKERS=4 \
    ESCALATOR_POLICY=/config/policy.yml \
    DATABASE_URL=sqlite:////data/escalator.db \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/healthz\", timeout=3)"]
# On SIGTERM the web workers finish their requests and the delivery process its deliveries in flight.
STOPSIGNAL SIGTERM
CMD ["python", "app.py"]
