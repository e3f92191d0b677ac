"""WSGI entry point, e.g. `gunicorn linksite.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linksite.settings")
application = get_wsgi_application()
