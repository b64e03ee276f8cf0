"""Once a day: a newer app release (release feed) and a newer worker image digest. Both become notices for the
tray and the dashboard; nothing is installed or pulled by itself."""

from __future__ import annotations

import logging
import threading
import time

from ..events import EventBus
from ..state_owner import StateOwner

log = logging.getLogger(__name__)
IMAGE_CHECK_S = 24 * 3600


class UpdateWatch:
    def __init__(self, owner: StateOwner, bus: EventBus):
        self.owner = owner
        self.bus = bus
        self.checker = None  # updates.UpdateChecker (set when the agent starts or the feed changes)
        self._image_checked = 0.0

    def check(self, supervisor, simulated: bool) -> None:
        if supervisor is not None and not simulated and time.time() - self._image_checked > IMAGE_CHECK_S:
            self._image_checked = time.time()
            threading.Thread(target=self._check_image, args=(supervisor,), name="image-check", daemon=True).start()
        up = self.checker
        if up is None or not up.enabled or not up.due():
            return
        notice = up.check()
        if notice is not None:
            self.owner.report(update=notice.to_dict())
            self.bus.publish("notify", {"kind": "update_available", "title": "Update available",
                                        "message": notice.message, "level": "info"})

    def _check_image(self, supervisor) -> None:
        try:
            newer = supervisor.check_image_update()
        except Exception as e:  # registry unreachable: try again tomorrow
            log.info("worker image check failed: %s", e)
            return
        if newer:
            self.bus.publish("notify", {"kind": "image_update", "title": "Worker update available",
                                        "message": "A newer worker image is published. Update it from the dashboard.",
                                        "level": "info"})
