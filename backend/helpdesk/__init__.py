"""The helpdesk support works in: the seam (desk.py), django-helpdesk's connector (connector.py), its Django
site (site/) and the command that serves it (serve.py)."""
