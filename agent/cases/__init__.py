"""The case conversation, after the receipt: what support says about the box's cases (book.py, feed.py),
and what the box says back: answers and photos, sent like reports (articles.py, photos.py)."""

from collections.abc import Mapping

from agent.contract import PHOTO_VIEWS
from agent.lang import Told

# The seed checklist: what support asks to see first when a box is opened (a photo request names one).
PHOTO_LABELS = dict(
    zip(
        PHOTO_VIEWS,
        ("inside of the housing", "the lid, inside", "the controller computer", "the type plate", "another photo"),
        strict=True,
    )
)


class CaseError(Told):
    """A request about a case that cannot be done, said for the person who asked (KEY: page.errors in the
    language files); STATUS is the HTTP status that fits it (404: no such case or report, 409: not in a
    state for it, 422: wrong input)."""

    def __init__(self, key: str, fill: Mapping | None = None, status: int = 422):
        super().__init__(key, fill)
        self.status = status
