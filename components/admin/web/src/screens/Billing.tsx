import { useEffect, useState } from "preact/hooks";
import { formText } from "../forms";
import { api, message, session } from "../api";
import { ErrorMessage, Notice } from "../components/Messages";
import { useLoad } from "../load";
import { money } from "../money";
import { query } from "../router";

interface Plan {
  id: string;
  name: string;
  prices: { interval: "month" | "year"; currency: string; amount: number }[];
  trialDays: number;
  tiers: string[];
}

interface Invoice {
  id: string;
  number: string;
  currency: string;
  total: number;
  status: "open" | "paid" | "void";
  issuedAtMs: number;
  dueAtMs: number | null;
}

interface User {
  id: string;
  email: string;
}

/** The plan catalog, and one account's invoices (admins). */
export function Billing() {
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { data, reload } = useLoad<{ items: Plan[] }>("/api/v1/billing/plans", setError);
  const plans = data?.items ?? null;

  async function create(event: SubmitEvent) {
    event.preventDefault();
    // currentTarget is gone once the handler awaits.
    const element = event.currentTarget as HTMLFormElement;
    const form = new FormData(element);
    const text = (name: string) => formText(form, name);
    const cents = (name: string) => Math.round(Number(text(name)) * 100);
    setError(null);
    try {
      const plan = await api<Plan>("POST", "/api/v1/billing/plans", {
        body: {
          name: text("name"),
          trialDays: Number(text("trialDays") || 0),
          tiers: text("tiers")
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean),
          prices: [
            { interval: "month", currency: text("currency"), amount: cents("monthly") },
            { interval: "year", currency: text("currency"), amount: cents("yearly") },
          ],
        },
      });
      setNotice(`Plan ${plan.name} created.`);
      element.reset();
      reload();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="billing">
      <h1>Billing</h1>
      <ErrorMessage text={error} />
      <Notice text={notice} />
      <h2>Plans</h2>
      {plans?.length === 0 && <p>No plans yet.</p>}
      {plans && plans.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">Prices</th>
              <th scope="col">Trial</th>
              <th scope="col">Tiers</th>
            </tr>
          </thead>
          <tbody>
            {plans.map((p) => (
              <tr key={p.id}>
                <td>{p.name}</td>
                <td>
                  {p.prices
                    .map((price) => `${money(price.amount, price.currency)} a ${price.interval}`)
                    .join(", ")}
                </td>
                <td>{p.trialDays ? `${p.trialDays} days` : "—"}</td>
                <td>{p.tiers.join(", ") || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>New plan</summary>
        <form class="fields narrow" onSubmit={(e) => void create(e)}>
          <label>
            Name
            <input name="name" required maxLength={100} />
          </label>
          <label>
            Currency
            <input name="currency" required pattern="[A-Za-z]{3}" defaultValue="EUR" />
          </label>
          <label>
            Monthly price
            <input name="monthly" type="number" min={0} step="0.01" required />
          </label>
          <label>
            Yearly price
            <input name="yearly" type="number" min={0} step="0.01" required />
          </label>
          <label>
            Trial days
            <input name="trialDays" type="number" min={0} max={365} defaultValue="0" />
          </label>
          <label>
            Tiers it unlocks (comma separated)
            <input name="tiers" pattern="[a-z0-9,\s\-]*" />
          </label>
          <button type="submit">Create plan</button>
        </form>
      </details>
      <Invoices />
    </section>
  );
}

/** One account's invoices; `/billing?email=` opens with that account's. */
function Invoices() {
  const [email, setEmail] = useState(() => query().get("email") ?? "");
  const [invoices, setInvoices] = useState<Invoice[] | null>(null);
  const [account, setAccount] = useState<User | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (email) void find();
    // Only the address the screen opened with is looked up by itself.
  }, []);

  async function find(event?: SubmitEvent) {
    event?.preventDefault();
    setError(null);
    try {
      const users = await api<{ items: User[] }>(
        "GET",
        `/api/v1/users?email=${encodeURIComponent(email.trim())}&limit=1`,
      );
      const user = users.items[0];
      if (!user) {
        setError(`No account has an email starting ${email.trim()}.`);
        return;
      }
      setAccount(user);
      await load(user);
    } catch (e) {
      setError(message(e));
    }
  }

  async function load(user: User) {
    const answer = await api<{ items: Invoice[] }>(
      "GET",
      `/api/v1/billing/invoices?account=${user.id}`,
    );
    setInvoices(answer.items);
  }

  // The PDF needs the bearer token, which a plain link would not send.
  async function download(invoice: Invoice) {
    const response = await fetch(`/api/v1/billing/invoices/${invoice.id}.pdf`, {
      headers: { authorization: `Bearer ${session.value?.accessToken ?? ""}` },
    });
    if (!response.ok) {
      setError(`The PDF of ${invoice.number} did not load (${response.status}).`);
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const anchor = document.createElement("a");
    anchor.href = url;
    anchor.download = `invoice-${invoice.number}.pdf`;
    anchor.click();
    URL.revokeObjectURL(url);
  }

  async function markPaid(invoice: Invoice) {
    if (!account || !confirm(`Record invoice ${invoice.number} as paid by bank transfer?`)) return;
    try {
      await api("POST", `/api/v1/billing/invoices/${invoice.id}/mark-paid`, { body: {} });
      await load(account);
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section aria-labelledby="invoices-title">
      <h2 id="invoices-title">Invoices of an account</h2>
      <form class="search" onSubmit={(e) => void find(e)}>
        <label>
          Account email
          <input
            type="search"
            value={email}
            onInput={(e) => {
              setEmail(e.currentTarget.value);
            }}
          />
        </label>
        <button type="submit">Show invoices</button>
      </form>
      <ErrorMessage text={error} />
      {account && invoices?.length === 0 && <p>{account.email} has no invoices.</p>}
      {account && invoices && invoices.length > 0 && (
        <table class="list">
          <caption>{account.email}</caption>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Issued</th>
              <th scope="col">Total</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {invoices.map((i) => (
              <tr key={i.id}>
                <td>
                  <button type="button" class="link" onClick={() => void download(i)}>
                    {i.number}
                    <span class="visually-hidden"> (PDF)</span>
                  </button>
                </td>
                <td>{new Date(i.issuedAtMs).toLocaleDateString()}</td>
                <td>{money(i.total, i.currency)}</td>
                <td>
                  <span class={`badge ${i.status}`}>{i.status}</span>
                </td>
                <td>
                  {i.status === "open" && (
                    <button type="button" onClick={() => void markPaid(i)}>
                      Mark paid
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
