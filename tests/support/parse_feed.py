"""Parses a feed with feedparser (the reference feed parser) and prints what
it understood as JSON: `bozo` (1 when the feed is not well-formed or not
valid enough to parse cleanly), the version it recognised, and the entries.

  python parse_feed.py URL
"""

import json
import sys
import urllib.request

import feedparser

with urllib.request.urlopen(sys.argv[1]) as response:
    data = response.read()
feed = feedparser.parse(data)
print(
    json.dumps(
        {
            "bozo": feed.bozo,
            "bozoException": str(feed.get("bozo_exception", "")),
            "version": feed.version,
            "title": feed.feed.get("title"),
            "links": [link.get("href") for link in feed.feed.get("links", [])],
            "entries": [
                {
                    "id": e.get("id"),
                    "title": e.get("title"),
                    "link": e.get("link"),
                    "published": e.get("published"),
                    "author": e.get("author"),
                    "summary": e.get("summary"),
                    "content": [c.get("value") for c in e.get("content", [])],
                    "tags": [t.get("term") for t in e.get("tags", [])],
                }
                for e in feed.entries
            ],
        }
    )
)
