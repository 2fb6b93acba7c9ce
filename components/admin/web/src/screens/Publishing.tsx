import { useEffect, useState } from "preact/hooks";
import { formText } from "../forms";
import { api, message } from "../api";
import { when } from "../content";
import { ErrorMessage, Notice } from "../components/Messages";
import { useLoad } from "../load";

interface Channel {
  id: string;
  slug: string;
  name: string;
  kind: "webhook" | "feed" | "sitemap" | "newsletter" | "http" | "cdn";
  config: Record<string, unknown>;
  approval: { required: number; roles: string[] } | null;
  status: "active" | "paused" | "disabled";
  statusReason: string | null;
  feedUrls: Record<string, string> | null;
  secret?: string;
}

interface Pending {
  contentId: string;
  title: string;
  type: string;
  version: number;
  waitingSince: string;
  channels: { channelId: string; name: string; required: number; approvals: number }[];
}

export interface Distribution {
  id: string;
  contentId: string;
  channelId: string;
  version: number;
  action: "publish" | "update" | "unpublish";
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  attemptLog?: {
    attempt: number;
    at: string;
    statusCode: number | null;
    latencyMs: number;
    error: string | null;
  }[];
}

/** Channels, the approvals queue and each channel's delivery log (admins). */
export function Publishing() {
  const [log, setLog] = useState<Channel | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Channel | null>(null);
  const { data, reload: load } = useLoad<{ items: Channel[] }>("/api/v1/channels", setError);
  const channels = data?.items ?? null;

  async function create(event: SubmitEvent) {
    event.preventDefault();
    // currentTarget is gone once the handler awaits.
    const element = event.currentTarget as HTMLFormElement;
    const form = new FormData(element);
    const text = (name: string) => formText(form, name);
    const kind = text("kind");
    const required = Number(text("approvals"));
    setError(null);
    try {
      const channel = await api<Channel>("POST", "/api/v1/channels", {
        body: {
          name: text("name"),
          slug: text("slug"),
          kind,
          config: kind === "webhook" ? { url: text("url") } : {},
          approval: required > 0 ? { required } : null,
        },
      });
      setCreated(channel);
      element.reset();
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  async function setStatus(channel: Channel, status: "active" | "paused") {
    try {
      await api("PUT", `/api/v1/channels/${channel.id}`, {
        body: {
          name: channel.name,
          slug: channel.slug,
          kind: channel.kind,
          config: Object.fromEntries(
            Object.entries(channel.config).filter(([k]) => k !== "secret"),
          ),
          approval: channel.approval,
          status,
        },
      });
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="publishing">
      <h1>Publishing</h1>
      <ErrorMessage text={error} />
      <h2>Channels</h2>
      {channels && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Approval</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {channels.map((c) => (
              <tr key={c.id}>
                <td>
                  {c.name} <span class="muted">({c.slug})</span>
                </td>
                <td>
                  {c.kind}
                  {c.feedUrls &&
                    Object.entries(c.feedUrls).map(([name, url]) => (
                      <a key={name} href={url} class="feed-link">
                        {name}
                      </a>
                    ))}
                </td>
                <td>
                  {c.approval ? `${c.approval.required} of ${c.approval.roles.join(", ")}` : "—"}
                </td>
                <td>
                  <span class={`badge ${c.status}`}>{c.status}</span>
                  {c.statusReason && <span class="muted"> {c.statusReason}</span>}
                </td>
                <td class="row-actions">
                  <button
                    type="button"
                    onClick={() => {
                      setLog(c);
                    }}
                  >
                    Delivery log
                  </button>
                  <button
                    type="button"
                    onClick={() => void setStatus(c, c.status === "active" ? "paused" : "active")}
                  >
                    {c.status === "active" ? "Pause" : "Activate"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>New channel</summary>
        <form class="fields narrow" onSubmit={(e) => void create(e)}>
          <label>
            Name
            <input name="name" required maxLength={200} />
          </label>
          <label>
            Slug
            <input name="slug" required pattern="[a-z0-9][a-z0-9\-]{0,63}" />
          </label>
          <label>
            Kind
            <select name="kind">
              <option value="webhook">webhook</option>
              <option value="feed">feed (RSS, Atom, JSON)</option>
              <option value="sitemap">sitemap</option>
            </select>
          </label>
          <label>
            Webhook URL (webhooks only)
            <input name="url" type="url" placeholder="https://example.com/hooks/folio" />
          </label>
          <label>
            Approvals needed before sending (0 for none)
            <input name="approvals" type="number" min={0} max={10} defaultValue="0" />
          </label>
          <button type="submit">Create channel</button>
        </form>
      </details>
      {created?.secret && (
        <p role="status" class="notice">
          Channel {created.name} created. Its signing secret, shown only now:{" "}
          <code>{created.secret}</code>
        </p>
      )}
      <Approvals />
      {log && (
        <DeliveryLog
          channel={log}
          close={() => {
            setLog(null);
          }}
        />
      )}
    </section>
  );
}

function Approvals() {
  const [pending, setPending] = useState<Pending[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  function load() {
    api<{ items: Pending[] }>("GET", "/api/v1/approvals?status=pending").then(
      (answer) => {
        setPending(answer.items);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }
  useEffect(load, []);

  async function decide(item: Pending, decision: "approve" | "reject") {
    const comment = decision === "reject" ? (prompt("Why is it rejected?") ?? "") : "";
    try {
      await api("POST", `/api/v1/content/${item.contentId}/approvals`, {
        body: { decision, version: item.version, ...(comment ? { comment } : {}) },
      });
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section aria-labelledby="approvals-title">
      <h2 id="approvals-title">Waiting for approval</h2>
      <ErrorMessage text={error} />
      {pending?.length === 0 && <p>Nothing is waiting.</p>}
      <ul class="approvals">
        {pending?.map((item) => (
          <li key={`${item.contentId}-${item.version}`}>
            <strong>{item.title}</strong> <span class="muted">{item.type}</span>, version{" "}
            {item.version}, waiting since {when(item.waitingSince)}
            <ul>
              {item.channels.map((c) => (
                <li key={c.channelId}>
                  {c.name}: {c.approvals} of {c.required} approvals
                </li>
              ))}
            </ul>
            <button type="button" onClick={() => void decide(item, "approve")}>
              Approve
            </button>{" "}
            <button type="button" onClick={() => void decide(item, "reject")}>
              Reject
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function DeliveryLog({ channel, close }: { channel: Channel; close: () => void }) {
  const [items, setItems] = useState<Distribution[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  function load() {
    api<{ items: Distribution[] }>(
      "GET",
      `/api/v1/distributions?channel=${channel.id}&limit=50`,
    ).then(
      (answer) => {
        setItems(answer.items);
      },
      (e: unknown) => {
        setNotice(message(e));
      },
    );
  }
  useEffect(load, [channel.id]);

  async function retry(d: Distribution) {
    try {
      await api("POST", `/api/v1/distributions/${d.id}/retry`, { body: {} });
      setNotice("Sent again, under its original id.");
      load();
    } catch (e) {
      setNotice(message(e));
    }
  }

  async function replay() {
    const to = new Date();
    const from = new Date(to.getTime() - 24 * 3600 * 1000);
    try {
      const answer = await api<{ replayed: number }>(
        "POST",
        `/api/v1/channels/${channel.id}/replay`,
        {
          body: { from: from.toISOString(), to: to.toISOString() },
        },
      );
      setNotice(`${answer.replayed} deliveries of the last 24 hours sent again.`);
      load();
    } catch (e) {
      setNotice(message(e));
    }
  }

  return (
    <section class="delivery-log" aria-labelledby="log-title">
      <div class="heading">
        <h2 id="log-title">Delivery log: {channel.name}</h2>
        <button type="button" onClick={() => void replay()}>
          Replay the last 24 hours
        </button>
        <button type="button" onClick={close}>
          Close
        </button>
      </div>
      <Notice text={notice} />
      {items?.length === 0 && <p>Nothing sent yet.</p>}
      {items && items.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Action</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">
                <span class="visually-hidden">Redeliver</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((d) => {
              const last = d.attemptLog?.[d.attemptLog.length - 1];
              return (
                <tr key={d.id}>
                  <td>
                    <a href={`/admin/content/${d.contentId}`}>{d.contentId.slice(0, 8)}</a> v
                    {d.version}
                  </td>
                  <td>{d.action}</td>
                  <td>
                    <span class={`badge ${d.status}`}>{d.status}</span>
                  </td>
                  <td>{d.attempts}</td>
                  <td>
                    {last
                      ? `${last.statusCode ?? last.error ?? "no answer"} in ${last.latencyMs} ms`
                      : "—"}
                  </td>
                  <td>
                    <button
                      type="button"
                      disabled={d.status === "delivering" || d.status === "awaiting-approval"}
                      onClick={() => void retry(d)}
                    >
                      Redeliver
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
