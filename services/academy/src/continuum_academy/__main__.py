from continuum.runtime import run_service
from continuum_academy.service import AcademyService

run_service(AcademyService)
