"""The chat domain shared by every service that takes part in rooms.

Pure state: folding a room's events into what it is now (members, policy,
recent history) and reading mentions out of text. No I/O, so the gateway,
the scheduler and persona-runtime agree on a room by construction.
"""

from continuum.chat.mentions import find_mentions
from continuum.chat.rooms import HistoryItem, Member, RoomDirectory, RoomState

__all__ = ["HistoryItem", "Member", "RoomDirectory", "RoomState", "find_mentions"]
