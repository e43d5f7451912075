# One image for the `trainer` and `service` containers (and the MLflow server).
FROM python:3.11.10-slim-bookworm

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN useradd --create-home --uid 10001 forecast
WORKDIR /app

# CPU wheel of torch first: the default PyPI wheel is a multi-GB CUDA build.
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
COPY pyproject.toml README.md ./
COPY forecast ./forecast
COPY pipelines ./pipelines
COPY service ./service
RUN pip install ".[stack]"

USER forecast
ENV FORECAST_CACHE_DIR=/home/forecast/cache
EXPOSE 3000 5000
ENTRYPOINT ["forecast"]
CMD ["--help"]
