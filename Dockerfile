# Blazon production image: gunicorn (web), Celery worker and Celery beat all run from it.
# Build:  docker build -t blazon .      Run: see docker-compose.yml and docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=blazon.settings \
    BLAZON_ENV=production

RUN groupadd --system --gid 10001 blazon \
 && useradd --system --uid 10001 --gid blazon --home-dir /app --no-create-home --shell /usr/sbin/nologin blazon

# xmlsec1: the SAML identity provider (pysaml2) verifies signed SP requests with this binary (and
# signs with it when BLAZON_SAML_SIGNER=xmlsec1; responses are otherwise signed in-process).
RUN apt-get update \
 && apt-get install -y --no-install-recommends xmlsec1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --only-binary lxml,xmlsec -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
# Installed in place (editable): the settings find templates/ and var/ next to the blazon
# package, so the code must run from /app rather than from a copy in site-packages.
RUN pip install --no-deps -e . \
 && BLAZON_SECRET_KEY=build-only-dummy-secret-key-never-used-at-run-time-0123456789 \
    BLAZON_VAULT_KEYS=1:YnVpbGQtb25seS1kdW1teS12YXVsdC1rZXktMDEyMzQ= \
    BLAZON_AUDIT_KEYS=build:YnVpbGQtb25seS1kdW1teS1hdWRpdC1rZXktMDEyMzQ= \
    DATABASE_URL=postgres://build@127.0.0.1:5432/build \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var \
 && chown -R blazon:blazon /app/var

USER blazon
EXPOSE 8000

# Web by default; docker-compose.yml runs the worker, beat and migrations from the same image.
CMD ["gunicorn", "blazon.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
