import { useEffect, useState } from "preact/hooks";
import { api, message } from "../api";
import { rendition, type Media, type MediaPage } from "../media";

/** The caller's ready images, to attach to an item; `chosen` are its media ids. */
export function MediaPicker({
  chosen,
  onChange,
}: {
  chosen: string[];
  onChange: (ids: string[]) => void;
}) {
  const [media, setMedia] = useState<Media[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<MediaPage>("GET", "/api/v1/media?kind=image&status=ready&limit=100").then(
      (page) => {
        setMedia(page.items);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }, []);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!media) return <p aria-busy="true">Loading media…</p>;
  if (media.length === 0) return <p>No images yet: upload some in the media library.</p>;
  return (
    <ul class="picker">
      {media.map((m) => {
        const picked = chosen.includes(m.id);
        const label = m.filename ?? m.id;
        return (
          <li key={m.id}>
            <button
              type="button"
              aria-pressed={picked}
              onClick={() => {
                onChange(picked ? chosen.filter((id) => id !== m.id) : [...chosen, m.id]);
              }}
            >
              <img src={rendition(m, "thumbnail.jpg") ?? ""} alt="" width={80} height={80} />
              <span>
                {picked ? "Remove " : "Add "}
                {label}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
