"""Placeholder while the QBO endpoints are written."""

from django.http import JsonResponse


def _todo(request, *args, **kwargs):
    return JsonResponse({"error": "not_implemented"}, status=501)


institution = verify = link_feeds = refresh = disconnect = _todo
