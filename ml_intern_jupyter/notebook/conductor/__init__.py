"""This kernel's sessions and the conductor in front of each: requests, the restart gate,
the kernel's session store, trace sharing, the kernel tools' main-thread bridge."""
