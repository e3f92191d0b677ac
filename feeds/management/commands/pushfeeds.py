"""Push feeds to QBO from a shell, as the worker does: `pushfeeds --feed ID` or `--all`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from feeds.delivery.batches import feeds_to_push
from feeds.delivery.push import push_feed
from feeds.models import Feed


class Command(BaseCommand):
    help = "Deliver pending transactions to QuickBooks Online now, with progress and a summary."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--feed", action="append", default=[], help="a feed id (repeatable)")
        target.add_argument(
            "--all", action="store_true", help="every active feed with something to deliver"
        )

    def handle(self, *args, **options):
        if options["all"]:
            feeds = feeds_to_push()
        else:
            feeds = options["feed"]
            unknown = sorted(
                set(feeds) - set(Feed.objects.filter(pk__in=feeds).values_list("pk", flat=True))
            )
            if unknown:
                raise CommandError(f"Unknown feed(s): {', '.join(unknown)}")
        total = len(feeds)
        outcomes: dict[str, int] = {}
        delivered = 0
        for number, feed_id in enumerate(feeds, start=1):
            result = push_feed(feed_id, "admin")
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            delivered += result.delivered
            filled = int(30 * number / total)
            detail = f" ({result.error})" if result.error else ""
            self.stdout.write(
                f"[{'#' * filled}{'.' * (30 - filled)}] {number}/{total} {feed_id}: "
                f"{result.outcome}, {result.delivered} delivered{detail}"
            )
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.stdout.write(
            f"{total} feed(s) pushed, {delivered} transaction(s) delivered"
            + (f": {summary}." if summary else ".")
        )
