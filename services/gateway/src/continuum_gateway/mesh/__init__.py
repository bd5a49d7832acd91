"""The gateway's mesh agent: this node's voice on the mesh (adverts, pings,
routed generations) over its own connection to the MESH account."""

from continuum_gateway.mesh.agent import MeshAgent

__all__ = ["MeshAgent"]
