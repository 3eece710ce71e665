"""The function app: installs the process's logging, creates the app and registers the blueprints, nothing else."""

import azure.functions as func

from exports import (
    http_fields,
    http_jobs,
    http_meta,
    http_page,
    http_schedules,
    queue_notifications,
    queue_requests,
    queue_worker,
    timer_cleanup,
    timer_schedules,
)
from shared.logging_json import install_json_logging
from shared.redaction import install_log_redaction

# No account key or SAS signature in any log line of this process; loading the app is enough.
install_log_redaction()
# One JSON object per log line, with the job and organization it concerns.
install_json_logging()

# Identity comes from App Service Authentication (X-MS-CLIENT-PRINCIPAL), not from function keys.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (http_jobs.bp, http_fields.bp, http_meta.bp, queue_requests.bp, queue_worker.bp, timer_cleanup.bp):
    app.register_functions(blueprint)
# Job lifecycle: webhook deliveries, retried through the notifications queue.
app.register_functions(queue_notifications.bp)
# Scheduled exports: their routes, and the timer that turns due schedules into jobs.
app.register_functions(http_schedules.bp)
app.register_functions(timer_schedules.bp)
# The exports page: a static page over the public API.
app.register_functions(http_page.bp)
