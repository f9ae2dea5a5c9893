"""Who is asking: every Service method that reads or changes a job takes a :class:`Caller`.

Ownership is enforced once, in the service. A caller sees its own jobs; an admin key sees every
job; without API keys configured the service has no tenants and every caller is an admin of it.
Another tenant's job is answered exactly like a job that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    owner: str | None = None  # a non-secret id of the caller's key (``access.key_id``)
    admin: bool = False

    def sees(self, owner: str | None) -> bool:
        return self.admin or (self.owner is not None and owner == self.owner)

    @property
    def owner_filter(self) -> str | None:
        """The owner a listing is restricted to (None: every job)."""
        return None if self.admin else (self.owner or "\x00nobody")


# the process itself: the CLI running jobs here, executors, workers, tests
SYSTEM = Caller(owner=None, admin=True)
