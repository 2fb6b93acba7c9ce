// The media service's shapes, as the admin app uses them.
export interface Media {
  id: string;
  kind: "image" | "video" | "audio";
  mime: string;
  filename: string | null;
  size: number;
  width: number | null;
  height: number | null;
  status: "uploaded" | "processing" | "ready" | "failed";
  processing: { progress: number | null; error: string | null };
  renditions: { name: string; url: string; mime: string }[];
  createdAt: string;
}

export interface MediaPage {
  items: Media[];
  nextCursor: string | null;
}

export function rendition(media: Media, name: string): string | undefined {
  return media.renditions.find((r) => r.name === name)?.url;
}
