"""The web UI: server-rendered pages (Jinja2) with a little JavaScript, in the server.

`mount_ui(app, ci, dev=...)` adds it to the server's FastAPI app (`routes.py`: pages
at Concourse's paths, login and CSRF in `sessions.py`). Pure parts with table tests:
the pipeline graph's layout (`graph.py`), the log as numbered lines (`loglines.py`),
the step tree (`steps.py`), the status colours and their contrast (`colors.py`).
Templates and static files ship as package data (pyproject `package-data`).
"""

from headwater.web.ui.routes import mount_ui

__all__ = ["mount_ui"]
