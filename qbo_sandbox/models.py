"""The QBO emulator's own models arrive with the QBO issue; it never imports feeds or accounts."""
