"""django-helpdesk as support runs it for the wallboxes: one queue, the statuses of the box's case (with
"Waiting for the box"), priorities in support's words, PostgreSQL (or SQLite), webhooks to the intake.

Everything that differs per run comes from the environment (helpdesk_serve.py sets it):
HELPDESK_SITE_DB (postgresql://... or a SQLite path), HELPDESK_SITE_DIR (media, static), HELPDESK_SITE_KEY,
HELPDESK_FOLLOWUP_WEBHOOK_URLS / HELPDESK_NEW_TICKET_WEBHOOK_URLS (read by django-helpdesk itself)."""

import os
from pathlib import Path
from urllib.parse import urlsplit

SITE_DIR = Path(os.environ.get("HELPDESK_SITE_DIR", "/tmp/helpdesk-site"))
SECRET_KEY = os.environ.get("HELPDESK_SITE_KEY", "") or os.urandom(32).hex()
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
SITE_ID = 1
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "backend.helpdesk.site.urls.SandboxAttachments",
]
ROOT_URLCONF = "backend.helpdesk.site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
_db = os.environ.get("HELPDESK_SITE_DB", str(SITE_DIR / "helpdesk.sqlite3"))
if _db.startswith(("postgresql:", "postgres:")):
    _u = urlsplit(_db)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _u.path.lstrip("/"),
            "USER": _u.username or "",
            "PASSWORD": _u.password or "",
            "HOST": _u.hostname or "",
            "PORT": str(_u.port or ""),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = os.environ.get("HELPDESK_SITE_ZONE", "Europe/Berlin")
STATIC_URL = "/static/"
STATIC_ROOT = SITE_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = SITE_DIR / "media"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # the box is the submitter: no e-mail
REST_FRAMEWORK = {
    # The intake calls with a token: a password is checked with PBKDF2 at every request (a quarter second).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ]
}

HELPDESK_ACTIVATE_API_ENDPOINT = True
HELPDESK_TEAMS_MODE_ENABLED = False  # no pinax-teams: one team, the support desk
HELPDESK_SHOW_CHANGE_PASSWORD = False
# The box's case states (README, "The backend contract") as ticket statuses: "waiting" is a status of its
# own, counted as open; a ticket staff close or mark duplicate is solved for the box.
WAITING_FOR_BOX = 6
HELPDESK_TICKET_STATUS_CHOICES = (
    (1, "Open"),
    (2, "Reopened"),
    (3, "Resolved"),
    (4, "Closed"),
    (5, "Duplicate"),
    (WAITING_FOR_BOX, "Waiting for the box"),
)
HELPDESK_TICKET_OPEN_STATUSES = (1, 2, WAITING_FOR_BOX)
HELPDESK_TICKET_STATUS_CHOICES_FLOW = {
    1: (1, WAITING_FOR_BOX, 3, 4, 5),
    2: (2, WAITING_FOR_BOX, 3, 4, 5),
    3: (2, 3, 4),
    4: (2, 4),
    5: (2, 5),
    WAITING_FOR_BOX: (1, WAITING_FOR_BOX, 3, 4, 5),
}
# The box's three priorities in support's words (1-3); 4 and 5 stay for tickets staff open themselves.
HELPDESK_TICKET_PRIORITY_CHOICES = (
    (1, "1. On site: an installer is at the box"),
    (2, "2. Cannot charge / hardware defect"),
    (3, "3. General question"),
    (4, "4. Low"),
    (5, "5. Very low"),
)
# report.html is the box's page, and the bundle its archive: both are attached to the box's follow-ups.
HELPDESK_VALID_EXTENSIONS = [".txt", ".json", ".html", ".gz", ".jpg", ".png", ".pdf"]
# A server error is said on stderr (the process's log), never on the page.
LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
