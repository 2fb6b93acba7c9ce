import { useEffect, useRef, useState } from "preact/hooks";
import { api, message } from "../api";
import { ErrorMessage, Notice } from "../components/Messages";
import { useLoad } from "../load";
import { money } from "../money";
import { href } from "../router";

type Status = "incomplete" | "trialing" | "active" | "past_due" | "canceled";

interface Subscription {
  id: string;
  account: string;
  planId: string;
  interval: "month" | "year";
  currency: string;
  amount: number;
  provider: string;
  status: Status;
  currentPeriodStartMs: number;
  currentPeriodEndMs: number;
  trialEndMs: number | null;
  cancelAtPeriodEnd: boolean;
  endedAtMs: number | null;
  createdAtMs: number;
}

interface Summary {
  byStatus: Record<Status, number>;
  monthlyRecurring: Record<string, number>;
}

interface Plan {
  id: string;
  name: string;
}

const STATUSES: Record<Status, string> = {
  active: "Active",
  trialing: "Trial",
  incomplete: "First invoice unpaid",
  past_due: "Past due",
  canceled: "Canceled",
};

const day = (ms: number) => new Date(ms).toLocaleDateString();

/** Every account's subscription, filtered, with totals and an admin's cancel and resume. */
export function Subscriptions() {
  const [status, setStatus] = useState<Status | "">("");
  const [planId, setPlanId] = useState("");
  const [rows, setRows] = useState<Subscription[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // Account id → email, filled a page at a time through the users API.
  const emails = useRef(new Map<string, string>());
  // Answers to an earlier filter's requests are dropped.
  const generation = useRef(0);

  const { data: summary, reload: loadSummary } = useLoad<Summary>(
    "/api/v1/billing/subscriptions/summary",
    setError,
  );
  const plans = useLoad<{ items: Plan[] }>("/api/v1/billing/plans", setError).data?.items ?? [];

  async function loadPage(cursor: string | null) {
    const mine = cursor ? generation.current : ++generation.current;
    const params = new URLSearchParams({ limit: "50" });
    if (status) params.set("status", status);
    if (planId) params.set("planId", planId);
    if (cursor) params.set("cursor", cursor);
    setError(null);
    try {
      const page = await api<{ items: Subscription[]; nextCursor: string | null }>(
        "GET",
        `/api/v1/billing/subscriptions?${params.toString()}`,
      );
      const unknown = [...new Set(page.items.map((s) => s.account))].filter(
        (id) => !emails.current.has(id),
      );
      if (unknown.length > 0) {
        const users = await api<{ items: { id: string; email: string }[] }>(
          "GET",
          `/api/v1/users?ids=${unknown.join(",")}&limit=100`,
        );
        for (const user of users.items) emails.current.set(user.id, user.email);
      }
      if (mine !== generation.current) return;
      setRows((before) => (cursor && before ? [...before, ...page.items] : page.items));
      setNext(page.nextCursor);
    } catch (e) {
      if (mine === generation.current) setError(message(e));
    }
  }

  useEffect(() => {
    void loadPage(null);
  }, [status, planId]);

  const planName = (id: string) => plans.find((p) => p.id === id)?.name ?? id.slice(0, 8);
  const who = (s: Subscription) => emails.current.get(s.account) ?? s.account;

  async function act(s: Subscription, verb: "cancel" | "resume") {
    if (verb === "cancel") {
      const when =
        s.status === "incomplete"
          ? "now (its open invoice is voided)"
          : `on ${day(s.currentPeriodEndMs)}, at the end of its period`;
      if (!confirm(`End ${who(s)}'s ${planName(s.planId)} subscription ${when}?`)) return;
    }
    setError(null);
    try {
      const updated = await api<Subscription>(
        "POST",
        `/api/v1/billing/subscriptions/${s.id}/${verb}`,
        { body: {} },
      );
      setRows((before) => before?.map((r) => (r.id === s.id ? updated : r)) ?? null);
      setNotice(
        verb === "cancel"
          ? `${who(s)}'s subscription ${updated.status === "canceled" ? "has ended" : `ends on ${day(updated.currentPeriodEndMs)}`}.`
          : `${who(s)}'s subscription renews again.`,
      );
      loadSummary();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="subscriptions">
      <h1>Subscriptions</h1>
      <ErrorMessage text={error} />
      <Notice text={notice} />
      {summary && (
        <dl class="totals">
          {(Object.keys(STATUSES) as Status[]).map((s) => (
            <div key={s}>
              <dt>{STATUSES[s]}</dt>
              <dd>{summary.byStatus[s].toLocaleString()}</dd>
            </div>
          ))}
          <div>
            <dt>Monthly recurring revenue</dt>
            <dd>
              {Object.entries(summary.monthlyRecurring)
                .map(([currency, amount]) => money(amount, currency))
                .join(" + ") || "—"}
            </dd>
          </div>
        </dl>
      )}
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <label>
          Status
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value as Status | "");
            }}
          >
            <option value="">Any</option>
            {(Object.keys(STATUSES) as Status[]).map((s) => (
              <option key={s} value={s}>
                {STATUSES[s]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Plan
          <select
            value={planId}
            onChange={(e) => {
              setPlanId(e.currentTarget.value);
            }}
          >
            <option value="">Any</option>
            {plans.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      {rows?.length === 0 && <p>No subscription matches.</p>}
      {rows && rows.length > 0 && (
        <div class="scroll-x">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Account</th>
                <th scope="col">Plan</th>
                <th scope="col">Price</th>
                <th scope="col">Status</th>
                <th scope="col">Current period</th>
                <th scope="col">Since</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id}>
                  <td>
                    <a href={href(`/billing?email=${encodeURIComponent(who(s))}`)}>
                      {who(s)}
                      <span class="visually-hidden"> (invoices)</span>
                    </a>
                  </td>
                  <td>{planName(s.planId)}</td>
                  <td>
                    {money(s.amount, s.currency)} a {s.interval}
                  </td>
                  <td>
                    <span class={`badge ${s.status.replace("_", "-")}`}>{STATUSES[s.status]}</span>
                    {s.cancelAtPeriodEnd && s.status !== "canceled" && (
                      <span class="ends"> ends {day(s.currentPeriodEndMs)}</span>
                    )}
                  </td>
                  <td>
                    {s.status === "canceled"
                      ? `ended ${day(s.endedAtMs ?? s.currentPeriodEndMs)}`
                      : `${day(s.currentPeriodStartMs)} – ${day(s.currentPeriodEndMs)}`}
                  </td>
                  <td>{day(s.createdAtMs)}</td>
                  <td>
                    {s.status !== "canceled" && !s.cancelAtPeriodEnd && (
                      <button type="button" onClick={() => void act(s, "cancel")}>
                        Cancel<span class="visually-hidden"> {who(s)}'s subscription</span>
                      </button>
                    )}
                    {s.status !== "canceled" && s.cancelAtPeriodEnd && (
                      <button type="button" onClick={() => void act(s, "resume")}>
                        Resume<span class="visually-hidden"> {who(s)}'s subscription</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button type="button" onClick={() => void loadPage(next)}>
          Show more
        </button>
      )}
    </section>
  );
}
