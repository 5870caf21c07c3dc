"""The backend's inputs (the hexagon's ports in): HTTPS uploads and the helpdesk's webhook (https.py), MQTT
(mqtt.py), e-mail (mail.py). Each hands a report to the case rules (backend.rules) and answers its sender."""
