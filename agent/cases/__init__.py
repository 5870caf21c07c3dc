"""The case conversation, after the receipt: what support says about the box's cases (book.py, feed.py),
and what the box says back: answers and photos, sent like reports (articles.py, photos.py)."""


class CaseError(ValueError):
    """A request about a case that cannot be done, said for the person who asked; STATUS is the HTTP
    status that fits it (404: no such case or report, 409: not in a state for it, 422: wrong input)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status
