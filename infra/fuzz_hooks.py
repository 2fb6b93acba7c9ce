"""schemathesis hooks for infra/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

tus 1.0 appends with `Content-Type: application/offset+octet-stream`, a media
type schemathesis cannot serialize on its own: it is plain bytes. The content
import takes `application/x-ndjson`, documented as a string: it is text.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
