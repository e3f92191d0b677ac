"""The event types an endpoint can subscribe to: the hosted service's names, then linksite's
own. Each with what it means, shown in admin and in the API's documentation."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

CONNECTION_CREATED = "connection.created"
CONNECTION_CONNECTED = "connection.connected"
CONNECTION_RECONNECTED = "connection.reconnected"
CONNECTION_DISCONNECTED = "connection.disconnected"
CONNECTION_DELETED = "connection.deleted"
ACCOUNT_CONNECTED = "bankFeeds.sourceAccount.connected"
ACCOUNT_DISCONNECTED = "bankFeeds.sourceAccount.disconnected"
WRITE_SUCCESSFUL = "bankTransactions.write.successful"
WRITE_UNSUCCESSFUL = "bankTransactions.write.unsuccessful"
# linksite's own: QBO took a write's transactions; QBO stopped a feed (before the 10-day change).
DELIVERED = "bankTransactions.delivered"
FEED_DISABLED = "bankFeeds.sourceAccount.feedDisabled"
# Sent to one endpoint when its owner asks (`POST /webhooks/{id}/test`), whatever it subscribes to.
TEST = "webhooks.test"

EVENT_TYPES = {
    CONNECTION_CREATED: _("A connection was created (PendingAuth)."),
    CONNECTION_CONNECTED: _("The SMB user linked a first account in QBO: PendingAuth → Linked."),
    CONNECTION_RECONNECTED: _("An unlinked connection was linked again in QBO: Unlinked → Linked."),
    CONNECTION_DISCONNECTED: _("The connection became Unlinked or Deauthorized."),
    CONNECTION_DELETED: _("The client deleted the connection."),
    ACCOUNT_CONNECTED: _("A source account was linked to a QBO target account."),
    ACCOUNT_DISCONNECTED: _("A source account became disconnected."),
    WRITE_SUCCESSFUL: _("A write of bank transactions succeeded (status Success)."),
    WRITE_UNSUCCESSFUL: _("A write of bank transactions failed (status Failed)."),
    DELIVERED: _("QBO took transactions of a write: they are in the books."),
    FEED_DISABLED: _("QBO stopped a feed; writes to its account fail from now on."),
}
# linksite's own event types, which the hosted service does not send.
EXTENSIONS = (CONNECTION_RECONNECTED, DELIVERED, FEED_DISABLED)
