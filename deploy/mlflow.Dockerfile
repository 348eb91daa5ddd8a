# The team MLflow tracking server of deploy/docker-compose.yml: the MLflow version
# prompt-review pins, with the PostgreSQL driver, the S3 client and the basic-auth app.
# Same digest-pinned base as the action image.
FROM python:3.11.15-slim-trixie@sha256:db3ff2e1800a8581e2c48a27c3995339d47bdf046da21c7627accd3d51053a93
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt \
    && useradd --create-home --uid 10001 mlflow \
    && mkdir /auth && chown 10001 /auth
USER 10001
WORKDIR /home/mlflow
EXPOSE 5000
ENTRYPOINT ["mlflow"]
CMD ["server", "--help"]
