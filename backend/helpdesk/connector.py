"""The connector to django-helpdesk (its REST API, /api/): a case is a ticket in one queue, every article a
follow-up with its attachments, the case's state the ticket's status and its priority the ticket's. The
whole seam to a helpdesk is this module's one class (intake_desk.Desk); another helpdesk needs another.

Mapping (the site's settings in helpdesk_site/settings.py name them so):
  case state   open -> 1 Open, reopened -> 2 Reopened, waiting -> 6 Waiting for the box, solved -> 3 Resolved;
               back from staff: 4 Closed and 5 Duplicate are solved too.
  priority     high (on site) -> 1, medium (cannot charge, hardware) -> 2, low (general) -> 3.
"""

from __future__ import annotations

from datetime import UTC, datetime

from backend.helpdesk.desk import Attachment, DeskError, Note

STATUS_OF_STATE = {"open": 1, "reopened": 2, "solved": 3, "waiting": 6}
STATE_OF_STATUS = {1: "open", 2: "reopened", 3: "solved", 4: "solved", 5: "solved", 6: "waiting"}
PRIORITY = {"high": 1, "medium": 2, "low": 3}
TIMEOUT_S = 15


class DjangoDesk:
    """URL: the site's root; QUEUE: `slug` or `slug:id` of the queue (django-helpdesk's API has no queue
    list: the id is the queue's primary key, 1 for the site helpdesk_serve.py makes); TOKEN: the account's
    API token (django-rest-framework's TokenAuthentication)."""

    name = "django-helpdesk"

    def __init__(self, url: str, queue: str, token: str):
        import requests

        slug, _, qid = queue.partition(":")
        self.root = url.rstrip("/") + "/api"
        self.slug = slug
        self.queue_id = int(qid or 1)
        if not token:
            raise DeskError("no helpdesk account: set DIAG_HELPDESK_TOKEN to the account's API token")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def _call(self, method: str, path: str, **kw) -> dict:
        import requests

        try:
            r = self.http.request(method, f"{self.root}/{path}", timeout=TIMEOUT_S, **kw)
        except requests.RequestException as exc:
            raise DeskError(f"{method} {path}: {exc}") from None
        if r.status_code >= 300:
            raise DeskError(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()

    def number(self, ticket: int) -> str:
        return f"{self.slug}-{ticket}"

    def ticket(self, case: dict) -> int:
        return int(case["case"].rsplit("-", 1)[1])

    def open(self, case: dict, files: list[Attachment]) -> tuple[str, list[str]]:
        from backend.text import summary_title

        body = {
            "queue": self.queue_id,
            "title": summary_title(case),
            "description": "\n".join(case["articles"][0].get("summary") or [case["subject"]]),
            "priority": PRIORITY[case["priority"]],
            "due_date": datetime.fromtimestamp(case["due"], UTC).isoformat(),
        }
        made = self._call("POST", "tickets/", json=body)
        case["desk_status"], case["desk_priority"] = STATUS_OF_STATE["open"], body["priority"]
        return self.number(made["id"]), [str(f["id"]) for f in made.get("followup_set", [])]

    def post(self, case: dict, text: str, files: list[Attachment]) -> str:
        data = {"ticket": self.ticket(case), "comment": text, "public": "true"}
        status = STATUS_OF_STATE[case["state"]]
        if case.get("desk_status") != status:  # a status sent again would overwrite the ticket's resolution
            data["new_status"] = str(status)
        made = self._call(
            "POST", "followups/", data=data, files=[("attachments", (f.name, f.data, f.mime)) for f in files]
        )
        case["desk_status"] = status
        self._priority(case)
        return str(made["id"])

    def _priority(self, case: dict) -> None:
        if case.get("desk_priority") != PRIORITY[case["priority"]]:
            self._call("PATCH", f"tickets/{self.ticket(case)}/", json={"priority": PRIORITY[case["priority"]]})
            case["desk_priority"] = PRIORITY[case["priority"]]

    def update(self, case: dict) -> None:
        body = {"status": STATUS_OF_STATE[case["state"]], "priority": PRIORITY[case["priority"]]}
        self._call("PATCH", f"tickets/{self.ticket(case)}/", json=body)
        case["desk_status"], case["desk_priority"] = body["status"], body["priority"]

    def notes(self, case: dict) -> list[Note]:
        ticket = self._call("GET", f"tickets/{self.ticket(case)}/")
        return [
            Note(
                desk_id=str(f["id"]),
                at=datetime.fromisoformat(f["date"]).timestamp(),
                text=f.get("comment") or "",
                public=bool(f.get("public")),
                state=STATE_OF_STATUS.get(f["new_status"]) if f.get("new_status") else None,
                desk_status=f.get("new_status"),
            )
            for f in ticket.get("followup_set", [])
        ]

    def say(self, case: dict, text: str, solved: bool = False) -> str:
        data = {"ticket": self.ticket(case), "comment": text, "public": "true"}
        if solved:
            data["new_status"] = str(STATUS_OF_STATE["solved"])
        return str(self._call("POST", "followups/", data=data)["id"])
