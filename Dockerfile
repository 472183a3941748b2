# veo-mcp as an HTTP server for a team: `docker build -t veo-mcp .`, then see deploy/compose.yaml.
FROM python:3.11-slim

# Unprivileged from the start; the data and video folders belong to it.
RUN useradd --create-home --uid 10001 veo \
    && mkdir -p /var/lib/veo-mcp /srv/videos \
    && chown veo:veo /var/lib/veo-mcp /srv/videos

WORKDIR /opt/veo-mcp
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir ".[postgres,s3]"

USER veo
ENV VEO_MCP_DATA_DIR=/var/lib/veo-mcp \
    VEO_MCP_OUTPUT_DIR=/srv/videos \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# A non-loopback address needs authentication (VEO_MCP_HTTP_TOKEN, VEO_MCP_USERS_FILE or VEO_MCP_OAUTH_ISSUER).
ENTRYPOINT ["veo-mcp", "serve", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000"]
