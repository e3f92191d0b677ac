"""The IDX partner API through which QuickBooks Online pulls accounts and transactions
(`product.md` §12): auth.py (partner key, credentials, rate), shapes.py (the JSON), views.py
and urls.py. A surface: it calls the domain (`feeds.pulls`, `feeds.credentials`)."""
