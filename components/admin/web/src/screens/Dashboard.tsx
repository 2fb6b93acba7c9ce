import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, message } from "../api";
import { ErrorMessage } from "../components/Messages";
import { formText } from "../forms";

interface Overview {
  totals: { visitors: number; pageviews: number; reads: number; bounceRate: number | null };
  series: { at: string; visitors: number; pageviews: number }[];
}

interface Breakdown {
  items?: {
    value: string;
    title?: string;
    pageviews: number;
    averageReadDepth?: number | null;
  }[];
}

function lastThirtyDays(): string {
  const day = 86_400_000;
  const to = new Date(Math.floor(Date.now() / day) * day + day);
  const from = new Date(to.getTime() - 30 * day);
  return `from=${from.toISOString().slice(0, 10)}&to=${to.toISOString().slice(0, 10)}`;
}

/**
 * The last 30 days: visitors and pageviews, top content with read depth,
 * referrers, a funnel of events, and the A/B experiments.
 */
export function Dashboard() {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [top, setTop] = useState<Breakdown | null>(null);
  const [referrers, setReferrers] = useState<Breakdown | null>(null);
  const [error, setError] = useState<string | null>(null);

  const range = lastThirtyDays();
  useEffect(() => {
    const fail = (e: unknown) => {
      setError(message(e));
    };
    api<Overview>("GET", `/api/v1/analytics/reports/overview?${range}`).then(setOverview, fail);
    api<Breakdown>("GET", `/api/v1/analytics/reports/top-content?${range}&limit=10`).then(
      setTop,
      fail,
    );
    api<Breakdown>("GET", `/api/v1/analytics/reports/referrers?${range}&limit=10`).then(
      setReferrers,
      fail,
    );
  }, []);

  return (
    <section class="dashboard">
      <h1>Dashboard</h1>
      <ErrorMessage text={error} />
      {overview && (
        <>
          <dl class="totals">
            <div>
              <dt>Visitors</dt>
              <dd>{overview.totals.visitors.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Pageviews</dt>
              <dd>{overview.totals.pageviews.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Reads</dt>
              <dd>{overview.totals.reads.toLocaleString()}</dd>
            </div>
          </dl>
          <VisitorsChart series={overview.series} />
        </>
      )}
      <div class="columns">
        <Ranking title="Top content" report={top} depth />
        <Ranking title="Referrers" report={referrers} />
      </div>
      <Funnel range={range} />
      <Experiments />
    </section>
  );
}

interface FunnelStep {
  step: string;
  sessions: number;
  fromPrevious: number | null;
  fromFirst: number | null;
}

/** How many visits went from each event to the next, in order. */
function Funnel({ range }: { range: string }) {
  const [steps, setSteps] = useState("pageview,signup");
  const [result, setResult] = useState<FunnelStep[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setError(null);
    api<{ steps: FunnelStep[] }>(
      "GET",
      `/api/v1/analytics/reports/funnel?${range}&steps=${encodeURIComponent(steps)}`,
    ).then(
      (answer) => {
        setResult(answer.steps);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }, [steps, range]);
  return (
    <section aria-labelledby="funnel-title">
      <h2 id="funnel-title">Funnel</h2>
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          setSteps(formText(new FormData(e.currentTarget), "steps"));
        }}
      >
        <label>
          Steps (event names in order, or pageview:/path)
          <input name="steps" defaultValue={steps} />
        </label>
        <button type="submit">Show</button>
      </form>
      <ErrorMessage text={error} />
      {result && (
        <ol class="funnel">
          {result.map((s) => (
            <li key={s.step}>
              <span class="step">{s.step}</span>
              <meter
                min={0}
                max={1}
                value={s.fromFirst ?? 0}
                aria-label={`${s.step} of the first step`}
              />
              <span>
                {s.sessions} visits, {percent(s.fromPrevious)} of the step before
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

interface Experiment {
  key: string;
  name?: string;
  status: string;
  goal: unknown;
}

interface Interval {
  low: number;
  high: number;
}

interface Results {
  variants: {
    key: string;
    control: boolean;
    exposures: number;
    conversions: number;
    conversionRate: number | null;
    relativeUplift?: number;
    relativeUpliftInterval?: Interval;
    pValue?: number;
    significant?: boolean;
  }[];
  warnings: { code: string; detail: string }[];
}

const percent = (x: number | null | undefined) =>
  x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;

/** Each A/B experiment's variants against the control, with 95% intervals. */
function Experiments() {
  const [experiments, setExperiments] = useState<{ experiment: Experiment; results: Results }[]>(
    [],
  );
  useEffect(() => {
    void (async () => {
      const list = await api<{ items: Experiment[] }>("GET", "/api/v1/experiments");
      const withResults = await Promise.all(
        list.items.map(async (experiment) => ({
          experiment,
          results: await api<Results>(
            "GET",
            `/api/v1/experiments/${encodeURIComponent(experiment.key)}/results`,
          ),
        })),
      );
      setExperiments(withResults);
    })().catch(() => {
      setExperiments([]);
    });
  }, []);
  if (experiments.length === 0) return null;
  return (
    <section aria-labelledby="experiments-title">
      <h2 id="experiments-title">Experiments</h2>
      {experiments.map(({ experiment, results }) => (
        <table class="list" key={experiment.key}>
          <caption>
            {experiment.name ?? experiment.key} ({experiment.status})
            {results.warnings.map((w) => (
              <span key={w.code} class="error">
                {" "}
                {w.detail}
              </span>
            ))}
          </caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Exposures</th>
              <th scope="col">Conversions</th>
              <th scope="col">Rate</th>
              <th scope="col">Uplift (95% interval)</th>
              <th scope="col">p</th>
            </tr>
          </thead>
          <tbody>
            {results.variants.map((v) => (
              <tr key={v.key}>
                <th scope="row">
                  {v.key}
                  {v.control ? " (control)" : ""}
                </th>
                <td>{v.exposures}</td>
                <td>{v.conversions}</td>
                <td>{percent(v.conversionRate)}</td>
                <td>
                  {v.relativeUplift === undefined
                    ? "—"
                    : `${percent(v.relativeUplift)} (${percent(v.relativeUpliftInterval?.low)} to ${percent(v.relativeUpliftInterval?.high)})`}
                  {v.significant && <strong> significant</strong>}
                </td>
                <td>{v.pValue === undefined ? "—" : v.pValue.toPrecision(2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

function VisitorsChart({ series }: { series: Overview["series"] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const data: uPlot.AlignedData = [
      series.map((p) => Date.parse(p.at) / 1000),
      series.map((p) => p.visitors),
      series.map((p) => p.pageviews),
    ];
    const chart = new uPlot(
      {
        width: Math.max(element.clientWidth, 320),
        height: 260,
        series: [
          {},
          { label: "Visitors", stroke: "#0b57d0", width: 2 },
          { label: "Pageviews", stroke: "#b3261e", width: 2 },
        ],
        axes: [{}, { label: "per day" }],
      },
      data,
      element,
    );
    return () => {
      chart.destroy();
    };
  }, [series]);
  return (
    <figure>
      <div ref={box} class="chart" role="img" aria-label="Visitors and pageviews per day" />
      <figcaption>Visitors and pageviews per day, last 30 days</figcaption>
    </figure>
  );
}

function Ranking({
  title,
  report,
  depth = false,
}: {
  title: string;
  report: Breakdown | null;
  depth?: boolean;
}) {
  const items = report?.items ?? [];
  return (
    <section>
      <h2>{title}</h2>
      {report === null ? (
        <p aria-busy="true">Loading…</p>
      ) : items.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{title === "Referrers" ? "Referrer" : "Item"}</th>
              <th scope="col">Pageviews</th>
              {depth && <th scope="col">Read depth</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((row) => (
              <tr key={row.value}>
                <td>{row.title ?? (row.value || "(direct)")}</td>
                <td>{row.pageviews}</td>
                {depth && <td>{percent(row.averageReadDepth)}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
