from continuum.runtime import run_service
from continuum_persona.service import PersonaRuntimeService

run_service(PersonaRuntimeService)
