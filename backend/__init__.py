"""Support's backend (the reference intake), a small hexagon that the folders show:

    inputs/    HTTPS uploads and the helpdesk's webhook, MQTT, e-mail: a report in, a receipt out
    rules/     the case rules: a report becomes a case (cases.py), the case talks afterwards (talk.py)
    store.py   the cases' database (SQLite or PostgreSQL)
    helpdesk/  the seam to the helpdesk support works in (desk.py), django-helpdesk behind it (connector.py,
               site/, serve.py)
    seal.py    what a box may believe: sealed with its own key, derived from the fleet key
    rounds.py  a worker's timed rounds (publish, read the helpdesk, chase); serve.py wires a worker
    cli.py     support's command line; text.py what support reads of a report

It imports from the box only the contract (agent.contract), agent.wire and the bundle reader
(agent.report.bundle): `python -m backend serve|list|show|ask|...`.
"""
