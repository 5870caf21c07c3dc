"""The helpdesk site's addresses: django-helpdesk at /, the admin at /admin/, attachments at /media/ (served
sandboxed: report.html comes from a box, so it may show, never run)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(template_name="helpdesk/registration/login.html"), name="login"),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    # The apps' own static files, found where they are installed (one process, a handful of staff).
    re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]


class SandboxAttachments:
    """An attachment is shown in a sandbox of its own origin, with nothing to run and nothing to fetch."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/media/"):
            response["Content-Security-Policy"] = (
                "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
            )
            response["X-Content-Type-Options"] = "nosniff"
        return response
