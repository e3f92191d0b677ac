"""Talking to QBO: request signatures (both ways), the outbound client and its wire format
(the bodies linksite sends, and how each answer is read). Below the domain: nothing here
imports delivery, the tasks or a surface."""
