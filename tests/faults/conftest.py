import pytest

from tests.faults.harness import Mailbox


@pytest.fixture(scope="module")
def mailbox():
    """An SMTP server counting the outcome e-mails (one per module)."""
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()
