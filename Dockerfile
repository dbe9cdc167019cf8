FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY receiver receiver
COPY worker worker
COPY rules rules
RUN pip install --no-cache-dir .
ENV UPSELL_RULES_DIR=/app/rules
EXPOSE 8000
CMD ["dodo-upsell", "web", "--host", "0.0.0.0", "--port", "8000"]
