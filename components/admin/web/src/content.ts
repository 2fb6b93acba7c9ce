// The content service's shapes and workflow, as the admin app uses them.
import type { Me } from "./App";

export const TYPES = ["article", "video", "gallery", "podcast"] as const;
export const STATUSES = ["draft", "review", "published", "archived"] as const;
export type Status = (typeof STATUSES)[number];

export type ContentType = (typeof TYPES)[number];

/**
 * What each type keeps in `metadata` beyond the shared fields (the service
 * stores any JSON object there; these are the keys the app offers).
 */
export const TYPE_FIELDS: Record<
  ContentType,
  { key: string; label: string; kind: "number" | "text" }[]
> = {
  article: [{ key: "readingMinutes", label: "Reading time (minutes)", kind: "number" }],
  video: [
    { key: "durationSeconds", label: "Duration (seconds)", kind: "number" },
    { key: "captionsLanguage", label: "Captions language", kind: "text" },
  ],
  gallery: [{ key: "layout", label: "Layout (grid or carousel)", kind: "text" }],
  podcast: [
    { key: "season", label: "Season", kind: "number" },
    { key: "episode", label: "Episode", kind: "number" },
  ],
};

export interface ContentItem {
  id: string;
  title: string;
  description: string | null;
  body: string | null;
  status: Status;
  type: (typeof TYPES)[number];
  categories: string[];
  tags: string[];
  mediaIds: string[];
  authorId: string;
  metadata: Record<string, unknown> | null;
  publishedAt: string | null;
  scheduledAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface ContentPage {
  items: ContentItem[];
  pagination: {
    limit: number;
    nextCursor: string | null;
    prevCursor?: string;
    page?: number;
    total?: number;
    totalExact?: boolean;
  };
}

export interface Revision {
  revision: number;
  authorId: string;
  createdAt: string;
}

export interface Category {
  id: string;
  name: string;
  slug: string;
}

/** The steps the service lets this caller take (it answers 409 or 403 to others). */
export function allowedTransitions(status: Status, me: Me): { to: Status; label: string }[] {
  const steps: Record<Status, { to: Status; label: string }[]> = {
    draft: [{ to: "review", label: "Submit for review" }],
    review: [
      { to: "draft", label: "Back to draft" },
      { to: "published", label: "Approve and publish" },
    ],
    published: [{ to: "archived", label: "Archive" }],
    archived: [{ to: "draft", label: "Reopen as draft" }],
  };
  return steps[status].filter((s) => s.to !== "published" || me.role === "admin");
}

export function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
