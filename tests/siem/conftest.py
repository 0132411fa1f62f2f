from __future__ import annotations

import os

import pytest

from tests.conftest import require
from tests.siem.pki import make_pki
from tests.siem.receivers import RSYSLOGD, Rsyslog, Webhook


@pytest.fixture(scope="session")
def pki():
    return make_pki()


@pytest.fixture
def rsyslog(pki):
    require(os.access(RSYSLOGD, os.X_OK), "rsyslogd (apt-get install rsyslog rsyslog-gnutls)")
    receiver = Rsyslog(pki)
    receiver.start()
    yield receiver
    receiver.cleanup()


@pytest.fixture
def webhook(pki):
    receiver = Webhook(pki)
    yield receiver
    receiver.cleanup()
