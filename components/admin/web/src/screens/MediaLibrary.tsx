import { useEffect, useRef, useState } from "preact/hooks";
import { Upload } from "tus-js-client";
import { api, message, refresh, session } from "../api";
import { rendition, type Media, type MediaPage } from "../media";
import { ErrorMessage } from "../components/Messages";

interface Progress {
  name: string;
  sent: number;
  total: number;
  error?: string;
}

/**
 * Uploads go through tus, so a dropped connection or a page reload resumes
 * where it stopped (tus-js-client keeps each upload's address in local
 * storage, keyed by the file); the library polls until processing is done.
 */
export function MediaLibrary() {
  const [media, setMedia] = useState<Media[] | null>(null);
  const [uploads, setUploads] = useState<Progress[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  function reload() {
    api<MediaPage>("GET", "/api/v1/media?limit=100").then(
      (page) => {
        setMedia(page.items);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }

  useEffect(reload, []);

  // While anything is processing, look again every second.
  useEffect(() => {
    if (!media?.some((m) => m.status === "uploaded" || m.status === "processing")) return;
    const timer = setTimeout(reload, 1000);
    return () => {
      clearTimeout(timer);
    };
  }, [media]);

  function upload(files: FileList | null) {
    for (const file of Array.from(files ?? [])) {
      const progress = (change: Partial<Progress>) => {
        setUploads((all) => all.map((u) => (u.name === file.name ? { ...u, ...change } : u)));
      };
      setUploads((all) => [...all, { name: file.name, sent: 0, total: file.size }]);
      const tus = new Upload(file, {
        endpoint: "/api/v1/media/uploads",
        chunkSize: 8 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000],
        metadata: { filename: file.name },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onBeforeRequest: (request) => {
          const token = session.value?.accessToken;
          if (token) request.setHeader("Authorization", `Bearer ${token}`);
        },
        onShouldRetry: (err, _attempt, options) => {
          const status = err.originalResponse?.getStatus() ?? 0;
          if (status === 401) {
            void refresh();
            return true;
          }
          return status === 0 || status >= 500 || (options.retryDelays?.length ?? 0) > 0;
        },
        onProgress: (sent, total) => {
          progress({ sent, total });
        },
        onError: (err) => {
          progress({ error: err.message });
        },
        onSuccess: () => {
          setUploads((all) => all.filter((u) => u.name !== file.name));
          reload();
        },
      });
      void tus.findPreviousUploads().then((previous) => {
        const last = previous[0];
        if (last) tus.resumeFromPreviousUpload(last);
        tus.start();
      });
    }
  }

  async function remove(item: Media) {
    if (!confirm(`Delete ${item.filename ?? item.id}? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/api/v1/media/${item.id}`);
      reload();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="media">
      <h1>Media</h1>
      <div
        class={`drop ${dragging ? "dragging" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => {
          setDragging(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          upload(e.dataTransfer?.files ?? null);
        }}
      >
        <p>Drop images, video or audio here, or</p>
        <label class="button">
          Choose files
          <input
            type="file"
            multiple
            accept="image/*,video/*,audio/*"
            class="visually-hidden"
            onChange={(e) => {
              upload(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
        </label>
      </div>
      {uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads in progress">
          {uploads.map((u) => (
            <li key={u.name}>
              {u.name} <progress max={u.total} value={u.sent} aria-label={`Uploading ${u.name}`} />{" "}
              {u.error ? <span class="error">{u.error}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <ErrorMessage text={error} />
      {media === null ? (
        <p aria-busy="true">Loading…</p>
      ) : media.length === 0 ? (
        <p>No media yet.</p>
      ) : (
        <ul class="grid" aria-label="Media library">
          {media.map((m) => (
            <li key={m.id} class="tile">
              <Preview media={m} />
              <span class="name">{m.filename ?? m.id}</span>
              <span class={`badge ${m.status}`}>{m.status}</span>
              <button
                type="button"
                onClick={() => void remove(m)}
                aria-label={`Delete ${m.filename ?? m.id}`}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Preview({ media }: { media: Media }) {
  if (media.status !== "ready") return <div class="thumb pending">{media.status}…</div>;
  if (media.kind === "image") {
    return (
      <img
        class="thumb"
        src={rendition(media, "small.webp") ?? rendition(media, "small.jpg") ?? ""}
        alt={media.filename ?? ""}
        width={160}
        height={120}
      />
    );
  }
  if (media.kind === "video") return <VideoPlayer media={media} />;
  return <audio controls preload="none" src={rendition(media, "audio.m4a")} />;
}

/**
 * Plays the HLS rendition (adaptive: 360p and 720p) through hls.js, loaded
 * only when a video is played; browsers that play HLS themselves get the
 * playlist directly, and the MP4 rendition is the fallback.
 */
function VideoPlayer({ media }: { media: Media }) {
  const video = useRef<HTMLVideoElement>(null);
  const [playing, setPlaying] = useState(false);
  const poster = rendition(media, "poster.jpg");
  const hls = rendition(media, "hls/master.m3u8");
  const mp4 = rendition(media, "360p.mp4");

  useEffect(() => {
    const element = video.current;
    if (!playing || !element) return;
    if (!hls || element.canPlayType("application/vnd.apple.mpegurl")) {
      element.src = hls ?? mp4 ?? "";
      void element.play();
      return;
    }
    let destroy = () => {};
    void import("hls.js").then(({ default: Hls }) => {
      if (!Hls.isSupported()) {
        element.src = mp4 ?? "";
        return;
      }
      const player = new Hls();
      player.loadSource(hls);
      player.attachMedia(element);
      player.on(Hls.Events.MANIFEST_PARSED, () => void element.play());
      destroy = () => {
        player.destroy();
      };
    });
    return () => {
      destroy();
    };
  }, [playing]);

  return (
    <div class="player">
      <video
        ref={video}
        class="thumb"
        controls={playing}
        preload="none"
        aria-label={`Video ${media.filename ?? media.id}`}
        {...(poster ? { poster } : {})}
      >
        <track kind="captions" />
      </video>
      {!playing && (
        <button
          type="button"
          onClick={() => {
            setPlaying(true);
          }}
        >
          Play {media.filename ?? "video"}
        </button>
      )}
    </div>
  );
}
