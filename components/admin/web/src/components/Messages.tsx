/** A failure the reader should see at once (screen readers announce it). */
export function ErrorMessage({ text, id }: { text: string | null; id?: string }) {
  if (!text) return null;
  return (
    <p role="alert" class="error" id={id}>
      {text}
    </p>
  );
}

/** News of something that went well, announced politely. */
export function Notice({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p role="status" class="notice">
      {text}
    </p>
  );
}
