"""Webhooks to the client backend (`product.md` §13): the events (`catalogue`), recorded in the
same database transaction as the change they report (`outbox`), endpoints and their secrets
(`endpoints`, `signing`), the addresses a webhook may go to (`addresses`), and the worker's
delivery of each event to each endpoint, at least once (`sending`)."""
