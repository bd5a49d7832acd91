"""Settings every test run shares, whichever suite runs.

LAN beacons are UDP multicast on the host's default interface unless told
otherwise: a test node must keep them on loopback (tests send nothing to
any other address)."""

import os

os.environ["CONTINUUM_MESH_LAN_INTERFACE"] = "127.0.0.1"
