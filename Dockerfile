FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY receiver receiver
COPY worker worker
COPY emulator emulator
COPY rules rules
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --no-create-home upsell
ENV UPSELL_RULES_DIR=/app/rules
USER upsell
EXPOSE 8000
CMD ["dodo-upsell", "web", "--host", "0.0.0.0", "--port", "8000"]
