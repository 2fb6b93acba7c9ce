import { useEffect, useState } from "preact/hooks";
import { api, message } from "../api";
import { ErrorMessage } from "../components/Messages";
import type { ContentItem, ContentPage } from "../content";
import { href, navigate, query } from "../router";

interface Entry {
  item: Pick<ContentItem, "id" | "title" | "status">;
  at: Date;
  kind: "scheduled" | "published";
}

const FIELDS = "id,title,status,scheduledAt,publishedAt";

/** Every page of a filtered list (a month holds few enough items). */
async function all(filter: string): Promise<ContentItem[]> {
  const items: ContentItem[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/api/v1/content?${filter}&limit=100&fields=${FIELDS}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page: ContentPage = await api<ContentPage>("GET", url);
    items.push(...page.items);
    cursor = page.pagination.nextCursor;
  } while (cursor && items.length < 2000);
  return items;
}

function monthOf(param: string | null): Date {
  const parsed =
    param && /^\d{4}-\d{2}$/.test(param) ? new Date(`${param}-01T00:00:00`) : new Date();
  return new Date(parsed.getFullYear(), parsed.getMonth(), 1);
}

function monthParam(date: Date): string {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}`;
}

/** A month of what publishes itself (scheduled) and what went out (published). */
export function Calendar() {
  const month = monthOf(query().get("month"));
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const key = monthParam(month);

  useEffect(() => {
    setEntries(null);
    const from = month.toISOString().replace(/\.\d+Z$/, "Z");
    const to = new Date(month.getFullYear(), month.getMonth() + 1, 1)
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    Promise.all([
      all(`scheduledFrom=${from}&scheduledTo=${to}`),
      all(`publishedFrom=${from}&publishedTo=${to}&sort=publishedAt`),
    ]).then(
      ([scheduled, published]) => {
        setEntries([
          ...scheduled.map((item) => ({
            item,
            at: new Date(item.scheduledAt ?? ""),
            kind: "scheduled" as const,
          })),
          ...published.map((item) => ({
            item,
            at: new Date(item.publishedAt ?? ""),
            kind: "published" as const,
          })),
        ]);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }, [key]);

  const days = new Date(month.getFullYear(), month.getMonth() + 1, 0).getDate();
  // Weeks start on Monday.
  const lead = (month.getDay() + 6) % 7;
  const cells: (number | null)[] = [
    ...Array.from({ length: lead }, () => null),
    ...Array.from({ length: days }, (_, i) => i + 1),
  ];
  while (cells.length % 7 !== 0) cells.push(null);
  const weeks = Array.from({ length: cells.length / 7 }, (_, w) => cells.slice(w * 7, w * 7 + 7));
  const go = (offset: number) => {
    navigate(
      `/calendar?month=${monthParam(new Date(month.getFullYear(), month.getMonth() + offset, 1))}`,
    );
  };
  const title = month.toLocaleDateString(undefined, { month: "long", year: "numeric" });

  return (
    <section class="calendar">
      <div class="heading">
        <h1>Calendar</h1>
        <button
          type="button"
          onClick={() => {
            go(-1);
          }}
        >
          Previous month
        </button>
        <button
          type="button"
          onClick={() => {
            go(1);
          }}
        >
          Next month
        </button>
      </div>
      <ErrorMessage text={error} />
      <table class="month">
        <caption>{title}</caption>
        <thead>
          <tr>
            {["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map((d) => (
              <th scope="col" key={d}>
                {d}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {weeks.map((week, w) => (
            <tr key={w}>
              {week.map((day, d) => (
                <td key={d} class={day ? "" : "empty"}>
                  {day && (
                    <>
                      <span class="day">{day}</span>
                      <ul>
                        {entries
                          ?.filter((e) => e.at.getDate() === day)
                          .sort((a, b) => a.at.getTime() - b.at.getTime())
                          .map((e) => (
                            <li key={`${e.kind}-${e.item.id}`} class={e.kind}>
                              <time dateTime={e.at.toISOString()}>
                                {e.at.toLocaleTimeString([], {
                                  hour: "2-digit",
                                  minute: "2-digit",
                                })}
                              </time>{" "}
                              <a href={href(`/content/${e.item.id}`)}>{e.item.title}</a>
                              <span class="visually-hidden"> ({e.kind})</span>
                            </li>
                          ))}
                      </ul>
                    </>
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="legend">
        <span class="scheduled">Scheduled</span> <span class="published">Published</span>
      </p>
      {entries === null && <p aria-busy="true">Loading…</p>}
    </section>
  );
}
