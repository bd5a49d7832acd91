from continuum.runtime import run_service
from continuum_scheduler.service import SchedulerService

run_service(SchedulerService)
