# trade-gateway: one image for the API replicas (`tradegw serve --no-delivery`), the background workers
# (`tradegw worker`) and the migration job (`tradegw db upgrade`). See DEPLOYMENT.md.
FROM python:3.11-slim

# xmlsec1 is not needed at run time (signing uses the cryptography package); nothing else from the OS is.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tradegw --create-home tradegw

WORKDIR /opt/tradegw
# Dependencies first, pinned by the same constraints the tests ran with, so a code change reuses this layer.
COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
COPY schemas ./schemas
COPY signing ./signing
COPY adapters ./adapters
COPY migrations ./migrations
COPY bench ./bench
RUN python -m pip install --no-cache-dir --no-compile -c constraints.txt . \
    && python -m compileall -q /usr/local/lib/python3.11/site-packages/gateway

USER tradegw
ENV GATEWAY_ENV=production \
    GATEWAY_DATA_DIR=/var/lib/tradegw \
    GATEWAY_KEYS_DIR=/var/lib/tradegw/keys \
    PYTHONUNBUFFERED=1
EXPOSE 8000
ENTRYPOINT ["tradegw"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--no-delivery"]
