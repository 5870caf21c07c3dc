#!/bin/sh
# EVerest's System module (modules/System/main/systemImpl.cpp, handle_upload_logs) runs
# libexec/everest/modules/System/diagnostics_uploader.sh CONSTANTS LOCATION FILE_NAME FILE_PATH once per attempt
# (it does the retries and the wait between them itself) and reads one status word a line from its stdout:
# "Uploaded" ends it, UploadFailure / PermissionDenied / BadMessage / NotSupportedOperation are a failed attempt,
# anything else is Uploading. FILE_PATH holds its placeholder ({"diagnostics":{"key":"value"}}); FILE_NAME is the
# name it already gave the CSMS. Installed in place of EVerest's script, this uploads diag-agent's report
# under that name instead. (EVerest passes no time window to the script: the whole report goes.)
DIAG_AGENT=${DIAG_AGENT:-/opt/diag-agent/venv/bin/diag-agent}
[ $# -ge 3 ] || { echo BadMessage; exit 1; }
exec $DIAG_AGENT ocpp-log --plain --request-id 0 --location "$2" --filename "$3" --retries 0
