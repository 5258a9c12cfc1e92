"""A hanging subject (#19 item 7): Adam whose ``step`` never returns (it sleeps in Python, so the
harness's SIGALRM time limit interrupts it). A gate run on it must end after one time limit: its
first test times out, every other test of the subject fails at once naming that first timeout."""
import time

import torch


class HangingAdam(torch.optim.Adam):
    def step(self, closure=None):
        while True:
            time.sleep(3600)


class HangsOnceAdam(torch.optim.Adam):
    """Hangs at the first ``step`` of the process only: the subject's later tests would run normally, so
    only the hang registry can make them fail (a registry that forgets fails the self-test)."""

    stepped = 0

    def step(self, closure=None):
        type(self).stepped += 1
        while type(self).stepped == 1:
            time.sleep(3600)
        return super().step(closure)
