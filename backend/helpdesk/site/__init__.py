"""A django-helpdesk site for the reference intake: the helpdesk support works in (tests, demo, bench)."""
