import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Me } from "../App";
import { api, message } from "../api";
import { STATUSES, TYPES, when, type ContentItem, type ContentPage } from "../content";
import { href, navigate, query } from "../router";
import { ErrorMessage } from "../components/Messages";

const ROW_HEIGHT = 40;
const BLOCK = 100;
const OVERSCAN = 10;

interface Block {
  items: ContentItem[];
  nextCursor: string | null;
}

interface SearchHit {
  id: string;
  type: string;
  title: string;
  snippet: string;
  publishedAt: string | null;
}

/**
 * Every item of a filter in one scrollable table, of any length: only the
 * visible rows exist in the page. Rows load a block of 100 at a time: the
 * block after a loaded one by its cursor (keyset, cheap at any depth), a
 * block reached by dragging the scrollbar by its page number.
 */
export function ContentList({ me }: { me: Me }) {
  const params = query();
  const filters = {
    status: params.get("status") ?? "",
    type: params.get("type") ?? "",
    sort: params.get("sort") ?? "-updatedAt",
    q: params.get("q") ?? "",
  };
  const search = params.get("search") ?? "";
  const key = JSON.stringify(filters);

  const [total, setTotal] = useState<{ count: number; exact: boolean } | null>(null);
  const [blocks, setBlocks] = useState<Map<number, Block>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const viewport = useRef<HTMLDivElement>(null);
  const loading = useRef(new Set<number>());
  // Answers to an earlier filter's requests must not land in this one's rows.
  const generation = useRef(0);

  const listUrl = (extra: Record<string, string>) => {
    const url = new URLSearchParams({
      limit: String(BLOCK),
      sort: filters.sort,
      fields: "id,title,type,status,updatedAt",
      ...extra,
    });
    if (filters.status) url.set("status", filters.status);
    if (filters.type) url.set("type", filters.type);
    if (filters.q) url.set("q", filters.q);
    return `/api/v1/content?${url.toString()}`;
  };

  function load(index: number, current: Map<number, Block>) {
    if (current.has(index) || loading.current.has(index)) return;
    const previous = current.get(index - 1);
    if (index > 0 && previous && !previous.nextCursor) return;
    loading.current.add(index);
    const asked = generation.current;
    const url =
      index === 0
        ? listUrl({})
        : previous?.nextCursor
          ? listUrl({ cursor: previous.nextCursor })
          : listUrl({ page: String(index + 1) });
    api<ContentPage>("GET", url).then(
      (page) => {
        if (asked !== generation.current) return;
        loading.current.delete(index);
        if (page.pagination.total !== undefined) {
          setTotal({ count: page.pagination.total, exact: page.pagination.totalExact ?? true });
        }
        setBlocks((blocks) =>
          new Map(blocks).set(index, {
            items: page.items,
            nextCursor: page.pagination.nextCursor,
          }),
        );
        if (index === 0) performance.mark("folio:content-list-rendered");
      },
      (e: unknown) => {
        if (asked !== generation.current) return;
        loading.current.delete(index);
        setError(message(e));
      },
    );
  }

  useEffect(() => {
    generation.current += 1;
    loading.current.clear();
    setBlocks(new Map());
    setTotal(null);
    setError(null);
    if (viewport.current) viewport.current.scrollTop = 0;
    setScrollTop(0);
    load(0, new Map());
  }, [key]);

  useEffect(() => {
    const element = viewport.current;
    if (!element) return;
    const observer = new ResizeObserver(() => {
      setHeight(element.clientHeight);
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
    };
  }, []);

  const rowCount = total?.count ?? blocks.get(0)?.items.length ?? 0;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rowCount, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);

  useEffect(() => {
    for (let b = Math.floor(first / BLOCK); b <= Math.floor(Math.max(last - 1, 0) / BLOCK); b++) {
      load(b, blocks);
    }
  }, [first, last, blocks]);

  const rows = useMemo(() => {
    const out: { index: number; item: ContentItem | undefined }[] = [];
    for (let i = first; i < last; i++) {
      out.push({ index: i, item: blocks.get(Math.floor(i / BLOCK))?.items[i % BLOCK] });
    }
    return out;
  }, [first, last, blocks]);

  function setFilter(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("search");
    navigate(`/content?${next.toString()}`, true);
  }

  return (
    <section class="content-list">
      <div class="heading">
        <h1>Content</h1>
        {(me.role === "admin" || me.role === "creator") && (
          <a class="button" href={href("/content/new")}>
            New item
          </a>
        )}
      </div>
      <SearchBox initial={search} />
      {search ? (
        <SearchResults q={search} />
      ) : (
        <>
          <form
            class="filters"
            aria-label="Filters"
            onSubmit={(e) => {
              e.preventDefault();
            }}
          >
            <label>
              Status
              <select
                value={filters.status}
                onChange={(e) => {
                  setFilter("status", e.currentTarget.value);
                }}
              >
                <option value="">Any</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Type
              <select
                value={filters.type}
                onChange={(e) => {
                  setFilter("type", e.currentTarget.value);
                }}
              >
                <option value="">Any</option>
                {TYPES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Sort
              <select
                value={filters.sort}
                onChange={(e) => {
                  setFilter("sort", e.currentTarget.value);
                }}
              >
                <option value="-updatedAt">Recently updated</option>
                <option value="-createdAt">Newest</option>
                <option value="createdAt">Oldest</option>
                <option value="-publishedAt">Recently published</option>
                <option value="title">Title A–Z</option>
                <option value="-title">Title Z–A</option>
              </select>
            </label>
            <label>
              Title starts with
              <input
                type="search"
                value={filters.q}
                onChange={(e) => {
                  setFilter("q", e.currentTarget.value.trim());
                }}
              />
            </label>
          </form>
          <p class="count" aria-live="polite">
            {total === null
              ? "Loading…"
              : `${total.count.toLocaleString()}${total.exact ? "" : "+"} items`}
          </p>
          <ErrorMessage text={error} />
          <div class="table" role="table" aria-label="Content items" aria-rowcount={rowCount + 1}>
            <div class="row head" role="row" aria-rowindex={1}>
              <span role="columnheader">Title</span>
              <span role="columnheader">Type</span>
              <span role="columnheader">Status</span>
              <span role="columnheader">Updated</span>
            </div>
            <div
              class="viewport"
              ref={viewport}
              role="rowgroup"
              onScroll={(e) => {
                setScrollTop(e.currentTarget.scrollTop);
              }}
            >
              <div class="spacer" style={{ height: `${rowCount * ROW_HEIGHT}px` }}>
                {rows.map(({ index, item }) => (
                  <div
                    key={index}
                    class="row"
                    role="row"
                    aria-rowindex={index + 2}
                    style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
                  >
                    {item ? (
                      <>
                        <span role="cell">
                          <a href={href(`/content/${item.id}`)}>{item.title}</a>
                        </span>
                        <span role="cell">{item.type}</span>
                        <span role="cell">
                          <span class={`badge ${item.status}`}>{item.status}</span>
                        </span>
                        <span role="cell">{when(item.updatedAt)}</span>
                      </>
                    ) : (
                      <span role="cell" class="placeholder">
                        Loading…
                      </span>
                    )}
                  </div>
                ))}
              </div>
            </div>
          </div>
        </>
      )}
    </section>
  );
}

function SearchBox({ initial }: { initial: string }) {
  return (
    <form
      role="search"
      class="search"
      onSubmit={(e) => {
        e.preventDefault();
        const value = new FormData(e.currentTarget).get("search");
        const q = typeof value === "string" ? value.trim() : "";
        navigate(q ? `/content?search=${encodeURIComponent(q)}` : "/content");
      }}
    >
      <label>
        Full-text search
        <input name="search" type="search" defaultValue={initial} />
      </label>
      <button type="submit">Search</button>
    </form>
  );
}

function SearchResults({ q }: { q: string }) {
  const [hits, setHits] = useState<{ items: SearchHit[]; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setHits(null);
    setError(null);
    api<{ items: SearchHit[]; total: number }>(
      "GET",
      `/api/v1/search?q=${encodeURIComponent(q)}&limit=50`,
    ).then(setHits, (e: unknown) => {
      setError(message(e));
    });
  }, [q]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!hits) return <p aria-busy="true">Searching…</p>;
  return (
    <section aria-label="Search results">
      <p aria-live="polite">
        {hits.total} {hits.total === 1 ? "match" : "matches"} for “{q}”
      </p>
      <ol class="hits">
        {hits.items.map((hit) => (
          <li key={hit.id}>
            <a href={href(`/content/${hit.id}`)}>{hit.title}</a>{" "}
            <span class="muted">{hit.type}</span>
            {/* The search service escapes snippets and marks matches with <mark> only. */}
            <p dangerouslySetInnerHTML={{ __html: hit.snippet }} />
          </li>
        ))}
      </ol>
    </section>
  );
}
