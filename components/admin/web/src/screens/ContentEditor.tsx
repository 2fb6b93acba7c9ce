import { useEffect, useRef, useState } from "preact/hooks";
import type { Me } from "../App";
import { ApiError, api, call, message } from "../api";
import { MediaPicker } from "../components/MediaPicker";
import { RichText } from "../components/RichText";
import {
  TYPES,
  TYPE_FIELDS,
  allowedTransitions,
  when,
  type Category,
  type ContentItem,
  type Revision,
  type Status,
} from "../content";
import { href, navigate } from "../router";
import { ErrorMessage, Notice } from "../components/Messages";

/** Drafts, items in review and archived items save this long after typing stops. */
const AUTOSAVE_MS = 1500;

/** What the form edits: the writable fields of an item. */
interface Draft {
  title: string;
  type: ContentItem["type"];
  description: string;
  body: string;
  categories: string[];
  tags: string[];
  mediaIds: string[];
  scheduledAt: string | null;
  metadata: Record<string, unknown>;
}

const EMPTY: Draft = {
  title: "",
  type: "article",
  description: "",
  body: "",
  categories: [],
  tags: [],
  mediaIds: [],
  scheduledAt: null,
  metadata: {},
};

function draftOf(item: ContentItem): Draft {
  return {
    title: item.title,
    type: item.type,
    description: item.description ?? "",
    body: item.body ?? "",
    categories: item.categories,
    tags: item.tags,
    mediaIds: item.mediaIds,
    scheduledAt: item.scheduledAt,
    metadata: item.metadata ?? {},
  };
}

function bodyOf(draft: Draft) {
  return {
    ...draft,
    description: draft.description || null,
    body: draft.body || null,
  };
}

type SaveState =
  | { kind: "saved"; at: Date | null }
  | { kind: "dirty" }
  | { kind: "saving" }
  | { kind: "failed"; error: string }
  | { kind: "conflict"; theirs: ContentItem; etag: string };

/**
 * Creates or edits one item. Edits save themselves a moment after typing
 * stops (except on a published item, where saving puts them live), each with
 * `If-Match`, so a change made elsewhere in between is never overwritten
 * unseen: the service answers 412 and the conflict view shows both versions.
 */
export function ContentEditor({ me, id }: { me: Me; id: string | null }) {
  const [item, setItem] = useState<ContentItem | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [state, setState] = useState<SaveState>({ kind: "saved", at: null });
  const [notice, setNotice] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<{ field: string; message: string } | null>(null);
  const etag = useRef<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(draft);
  latest.current = draft;

  useEffect(() => {
    if (!id) return;
    call<ContentItem>("GET", `/api/v1/content/${id}`).then(
      (answer) => {
        etag.current = answer.headers.get("etag");
        setItem(answer.body);
        setDraft(draftOf(answer.body));
      },
      (e: unknown) => {
        setState({ kind: "failed", error: message(e) });
      },
    );
  }, [id]);

  useEffect(
    () => () => {
      clearTimeout(timer.current);
    },
    [],
  );

  function edit(change: Partial<Draft>) {
    setDraft((d) => ({ ...d, ...change }));
    setFieldError(null);
    if (!item) return;
    setState({ kind: "dirty" });
    clearTimeout(timer.current);
    // An edit to a published item is live once saved: that takes a click.
    if (item.status !== "published") timer.current = setTimeout(() => void save(), AUTOSAVE_MS);
  }

  function failed(e: unknown) {
    if (e instanceof ApiError && e.status === 422 && e.field) {
      setFieldError({ field: e.field, message: e.problem.errors?.[0]?.message ?? e.message });
    }
    setState({ kind: "failed", error: message(e) });
  }

  async function create() {
    setState({ kind: "saving" });
    try {
      const answer = await call<ContentItem>("POST", "/api/v1/content", {
        body: bodyOf(latest.current),
        headers: { "idempotency-key": crypto.randomUUID() },
      });
      navigate(`/content/${answer.body.id}`, true);
    } catch (e) {
      failed(e);
    }
  }

  async function save(overwriteWith?: string) {
    if (!item) return;
    clearTimeout(timer.current);
    setState({ kind: "saving" });
    try {
      const answer = await call<ContentItem>("PATCH", `/api/v1/content/${item.id}`, {
        body: bodyOf(latest.current),
        headers: { "if-match": overwriteWith ?? etag.current ?? "*" },
      });
      etag.current = answer.headers.get("etag");
      setItem(answer.body);
      setState({ kind: "saved", at: new Date() });
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        const current = await call<ContentItem>("GET", `/api/v1/content/${item.id}`);
        setState({
          kind: "conflict",
          theirs: current.body,
          etag: current.headers.get("etag") ?? "*",
        });
      } else {
        failed(e);
      }
    }
  }

  async function transition(to: Status) {
    if (!item) return;
    if (state.kind === "dirty") await save();
    try {
      const answer = await call<ContentItem | { message: string }>(
        "POST",
        `/api/v1/content/${item.id}/transitions`,
        { body: { to }, headers: etag.current ? { "if-match": etag.current } : {} },
      );
      if (answer.status === 202) {
        setNotice(`Scheduled: it publishes itself at ${when(draft.scheduledAt)}.`);
        return;
      }
      etag.current = answer.headers.get("etag");
      setItem(answer.body as ContentItem);
      setNotice(`Now ${(answer.body as ContentItem).status}.`);
    } catch (e) {
      failed(e);
    }
  }

  if (id && !item) {
    return state.kind === "failed" ? (
      <p role="alert" class="error">
        {state.error}
      </p>
    ) : (
      <p aria-busy="true">Loading…</p>
    );
  }

  const invalid = (field: string) =>
    fieldError?.field === field
      ? { "aria-invalid": true, "aria-describedby": `${field}-error` }
      : {};
  const fieldMessage = (field: string) =>
    fieldError?.field === field && (
      <span id={`${field}-error`} class="error">
        {fieldError.message}
      </span>
    );

  return (
    <section class="editor">
      <div class="heading">
        <h1>{item ? "Edit content" : "New content"}</h1>
        {item && <span class={`badge ${item.status}`}>{item.status}</span>}
        <SaveStatus state={state} live={item?.status === "published"} />
      </div>
      <Notice text={notice} />
      {state.kind === "conflict" && (
        <Conflict
          mine={draft}
          theirs={state.theirs}
          keepMine={() => {
            void save(state.etag);
          }}
          takeTheirs={() => {
            etag.current = state.etag;
            setItem(state.theirs);
            setDraft(draftOf(state.theirs));
            setState({ kind: "saved", at: null });
          }}
        />
      )}
      <form
        class="fields"
        onSubmit={(e) => {
          e.preventDefault();
          void (item ? save() : create());
        }}
      >
        <label>
          Title
          <input
            value={draft.title}
            required
            maxLength={200}
            onInput={(e) => {
              edit({ title: e.currentTarget.value });
            }}
            {...invalid("title")}
          />
          {fieldMessage("title")}
        </label>
        <label>
          Type
          <select
            value={draft.type}
            onChange={(e) => {
              edit({ type: e.currentTarget.value as Draft["type"] });
            }}
          >
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {TYPE_FIELDS[draft.type].map((field) => (
          <label key={field.key}>
            {field.label}
            <input
              type={field.kind}
              value={metadataText(draft.metadata[field.key])}
              onChange={(e) => {
                const raw = e.currentTarget.value;
                const value = field.kind === "number" && raw !== "" ? Number(raw) : raw;
                const metadata = Object.fromEntries(
                  Object.entries(draft.metadata).filter(([key]) => key !== field.key),
                );
                edit({ metadata: raw === "" ? metadata : { ...metadata, [field.key]: value } });
              }}
            />
          </label>
        ))}
        <label>
          Description
          <textarea
            value={draft.description}
            rows={2}
            maxLength={2000}
            onInput={(e) => {
              edit({ description: e.currentTarget.value });
            }}
            {...invalid("description")}
          />
          {fieldMessage("description")}
        </label>
        <RichText
          label="Body"
          value={draft.body}
          onInput={(body) => {
            edit({ body });
          }}
        />
        {fieldMessage("body")}
        <Categories
          chosen={draft.categories}
          onChange={(categories) => {
            edit({ categories });
          }}
        />
        <label>
          Tags (comma separated)
          <input
            value={draft.tags.join(", ")}
            onChange={(e) => {
              edit({
                tags: e.currentTarget.value
                  .split(",")
                  .map((t) => t.trim())
                  .filter(Boolean),
              });
            }}
            {...invalid("tags")}
          />
          {fieldMessage("tags")}
        </label>
        <label>
          Publish at (your time zone)
          <input
            type="datetime-local"
            value={draft.scheduledAt ? localInput(draft.scheduledAt) : ""}
            onChange={(e) => {
              const value = e.currentTarget.value;
              edit({
                scheduledAt: value ? new Date(value).toISOString().replace(/\.\d+Z$/, "Z") : null,
              });
            }}
            {...invalid("scheduledAt")}
          />
          {fieldMessage("scheduledAt")}
        </label>
        <fieldset>
          <legend>Media</legend>
          <MediaPicker
            chosen={draft.mediaIds}
            onChange={(mediaIds) => {
              edit({ mediaIds });
            }}
          />
        </fieldset>
        <div class="actions">
          <button type="submit">{item ? "Save now" : "Create draft"}</button>
          {item &&
            allowedTransitions(item.status, me).map((step) => (
              <button type="button" key={step.to} onClick={() => void transition(step.to)}>
                {step.label}
              </button>
            ))}
          <a href={href("/content")}>Back to the list</a>
        </div>
      </form>
      {item && item.status !== "draft" && <Distributions item={item} me={me} />}
      {item && (
        <Revisions
          item={item}
          restored={(restored, tag) => {
            etag.current = tag;
            setItem(restored);
            setDraft(draftOf(restored));
            setNotice("Revision restored.");
          }}
          etag={etag.current}
        />
      )}
    </section>
  );
}

function metadataText(value: unknown): string {
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

function localInput(iso: string): string {
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function SaveStatus({ state, live }: { state: SaveState; live: boolean }) {
  const kind = state.kind === "dirty" && live ? "dirtyLive" : state.kind;
  const text = {
    saved: state.kind === "saved" && state.at ? `Saved at ${state.at.toLocaleTimeString()}` : "",
    dirty: "Unsaved changes",
    dirtyLive: "Unsaved changes: Save now puts them live",
    saving: "Saving…",
    failed: state.kind === "failed" ? `Not saved: ${state.error}` : "",
    conflict: "Not saved: someone else changed this item",
  }[kind];
  return (
    <span class={`save-status state-${state.kind}`} role="status" aria-live="polite">
      {text}
    </span>
  );
}

function Conflict({
  mine,
  theirs,
  keepMine,
  takeTheirs,
}: {
  mine: Draft;
  theirs: ContentItem;
  keepMine: () => void;
  takeTheirs: () => void;
}) {
  const other = draftOf(theirs);
  const fields = (Object.keys(mine) as (keyof Draft)[]).filter(
    (f) => JSON.stringify(mine[f]) !== JSON.stringify(other[f]),
  );
  return (
    <section class="conflict" role="alert" aria-labelledby="conflict-title">
      <h2 id="conflict-title">This item changed while you were editing</h2>
      <p>
        Version {theirs.version} was saved at {when(theirs.updatedAt)}. Your changes are not saved
        yet. Compare, then keep one:
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Yours</th>
            <th scope="col">Saved version</th>
          </tr>
        </thead>
        <tbody>
          {fields.map((f) => (
            <tr key={f}>
              <th scope="row">{f}</th>
              <td>{show(mine[f])}</td>
              <td>{show(other[f])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={keepMine}>
        Keep mine (overwrite)
      </button>
      <button type="button" onClick={takeTheirs}>
        Take the saved version
      </button>
    </section>
  );
}

function show(value: unknown): string {
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "string") return value.replace(/<[^>]*>/g, " ");
  return value === null ? "—" : JSON.stringify(value);
}

function Categories({ chosen, onChange }: { chosen: string[]; onChange: (ids: string[]) => void }) {
  const [categories, setCategories] = useState<Category[]>([]);
  useEffect(() => {
    api<{ items: Category[] }>("GET", "/api/v1/categories").then(
      (answer) => {
        setCategories(answer.items);
      },
      () => {
        setCategories([]);
      },
    );
  }, []);
  if (categories.length === 0) return null;
  return (
    <fieldset class="categories">
      <legend>Categories</legend>
      {categories.map((c) => (
        <label key={c.id} class="inline">
          <input
            type="checkbox"
            checked={chosen.includes(c.id)}
            onChange={(e) => {
              onChange(
                e.currentTarget.checked ? [...chosen, c.id] : chosen.filter((id) => id !== c.id),
              );
            }}
          />
          {c.name}
        </label>
      ))}
    </fieldset>
  );
}

interface RevisionDetail extends Revision {
  content: ContentItem;
}

function Revisions({
  item,
  etag,
  restored,
}: {
  item: ContentItem;
  etag: string | null;
  restored: (item: ContentItem, etag: string | null) => void;
}) {
  const [revisions, setRevisions] = useState<Revision[]>([]);
  const [chosen, setChosen] = useState<RevisionDetail | null>(null);
  const [diff, setDiff] = useState<{ added: boolean; removed: boolean; value: string }[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api<{ items: Revision[] }>("GET", `/api/v1/content/${item.id}/revisions`).then(
      (answer) => {
        setRevisions(answer.items);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }, [item.id, item.version]);

  async function open(revision: number) {
    const [detail, { diffWords }] = await Promise.all([
      api<RevisionDetail>("GET", `/api/v1/content/${item.id}/revisions/${revision}`),
      import("diff"),
    ]);
    setChosen(detail);
    const text = (c: ContentItem) =>
      [c.title, c.description ?? "", (c.body ?? "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ")]
        .join("\n\n")
        .trim();
    setDiff(
      diffWords(text(detail.content), text(item)).map((part) => ({
        added: part.added,
        removed: part.removed,
        value: part.value,
      })),
    );
  }

  async function restore(revision: number) {
    try {
      const answer = await call<ContentItem>(
        "POST",
        `/api/v1/content/${item.id}/revisions/${revision}/restore`,
        { body: {}, headers: etag ? { "if-match": etag } : {} },
      );
      setChosen(null);
      restored(answer.body, answer.headers.get("etag"));
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="revisions" aria-labelledby="revisions-title">
      <h2 id="revisions-title">Revisions</h2>
      <ErrorMessage text={error} />
      <ul>
        {revisions.map((r) => (
          <li key={r.revision}>
            <button type="button" onClick={() => void open(r.revision)}>
              Revision {r.revision}, {when(r.createdAt)}
            </button>
          </li>
        ))}
      </ul>
      {chosen && (
        <div class="diff">
          <h3>
            Revision {chosen.revision} compared with the current version (removed text struck
            through, added text underlined)
          </h3>
          <p>
            {diff.map((part, i) =>
              part.added ? (
                <ins key={i}>{part.value}</ins>
              ) : part.removed ? (
                <del key={i}>{part.value}</del>
              ) : (
                <span key={i}>{part.value}</span>
              ),
            )}
          </p>
          <button type="button" onClick={() => void restore(chosen.revision)}>
            Restore revision {chosen.revision}
          </button>
        </div>
      )}
    </section>
  );
}

interface DistributionRow {
  id: string;
  channelId: string;
  version: number;
  action: string;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
}

/** Where the item went: the newest distribution per channel. */
function Distributions({ item, me }: { item: ContentItem; me: Me }) {
  const [rows, setRows] = useState<DistributionRow[] | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  useEffect(() => {
    api<{ items: DistributionRow[] }>(
      "GET",
      `/api/v1/content/${item.id}/distributions?limit=200`,
    ).then(
      (answer) => {
        const newest = new Map<string, DistributionRow>();
        for (const row of answer.items) {
          if (!newest.has(row.channelId)) newest.set(row.channelId, row);
        }
        setRows([...newest.values()]);
      },
      // 404 until the publishing service has seen the item.
      () => {
        setRows([]);
      },
    );
    if (me.role === "admin") {
      api<{ items: { id: string; name: string }[] }>("GET", "/api/v1/channels").then(
        (answer) => {
          setNames(new Map(answer.items.map((c) => [c.id, c.name])));
        },
        () => {
          setNames(new Map());
        },
      );
    }
  }, [item.id, item.version, item.status]);
  if (!rows) return null;
  return (
    <section aria-labelledby="distribution-title">
      <h2 id="distribution-title">Distribution</h2>
      {rows.length === 0 ? (
        <p>Not sent to any channel yet.</p>
      ) : (
        <ul>
          {rows.map((row) => (
            <li key={row.channelId}>
              {names.get(row.channelId) ?? row.channelId.slice(0, 8)}: {row.action} of version{" "}
              {row.version} <span class={`badge ${row.status}`}>{row.status}</span>
              {row.lastError && <span class="muted"> ({row.lastError})</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
