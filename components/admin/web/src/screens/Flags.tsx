import { useEffect, useState } from "preact/hooks";
import { ApiError, api, call, message } from "../api";
import { ErrorMessage, Notice } from "../components/Messages";
import { useLoad } from "../load";

interface FlagDefinition {
  state: "ENABLED" | "DISABLED";
  variants: Record<string, unknown>;
  defaultVariant: string | null;
  targeting?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

interface FlagDocument {
  flags: Record<string, FlagDefinition>;
}

/** The share of callers a boolean flag's `fractional` rule turns on, if it has one. */
function rollout(flag: FlagDefinition): number | null {
  const fractional = (flag.targeting as { fractional?: unknown[] } | undefined)?.fractional;
  if (!Array.isArray(fractional)) return null;
  const buckets = fractional.filter(
    (b): b is [string, number | undefined] => Array.isArray(b) && typeof b[0] === "string",
  );
  const total = buckets.reduce((sum, [, weight]) => sum + (weight ?? 1), 0);
  const on = buckets.find(([variant]) => flag.variants[variant] === true);
  return on && total > 0 ? Math.round(((on[1] ?? 1) * 100) / total) : null;
}

function isBoolean(flag: FlagDefinition): boolean {
  return Object.values(flag.variants).every((v) => typeof v === "boolean");
}

/** Feature flags of one environment: on/off and a percentage rollout for boolean flags. */
export function Flags() {
  const [environment, setEnvironment] = useState("production");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { data: flags, reload: load } = useLoad<FlagDocument>(
    `/api/v1/flags?environment=${environment}`,
    setError,
  );

  async function save(key: string, change: (flag: FlagDefinition) => FlagDefinition) {
    setError(null);
    try {
      const current = await call<FlagDefinition & { version: number }>(
        "GET",
        `/api/v1/flags/${encodeURIComponent(key)}?environment=${environment}`,
      );
      // GET adds version, updatedAt and updatedBy; a PUT stores what it gets.
      const { state, variants, defaultVariant, targeting, metadata } = current.body;
      const flag = change({
        state,
        variants,
        defaultVariant,
        ...(targeting ? { targeting } : {}),
        ...(metadata ? { metadata } : {}),
      });
      await api("PUT", `/api/v1/flags/${encodeURIComponent(key)}?environment=${environment}`, {
        body: flag,
        headers: { "if-match": current.headers.get("etag") ?? "" },
      });
      setNotice(`${key} saved.`);
      load();
    } catch (e) {
      setError(
        e instanceof ApiError && e.status === 412
          ? `${key} changed meanwhile: look again, then save.`
          : message(e),
      );
      load();
    }
  }

  function setRollout(key: string, percent: number) {
    void save(key, (flag) => {
      const on = Object.keys(flag.variants).find((v) => flag.variants[v] === true) ?? "on";
      const off = Object.keys(flag.variants).find((v) => flag.variants[v] === false) ?? "off";
      return {
        ...flag,
        variants: { ...flag.variants, [on]: true, [off]: false },
        defaultVariant: flag.defaultVariant ?? off,
        targeting: {
          fractional: [
            [on, percent],
            [off, 100 - percent],
          ],
        },
      };
    });
  }

  return (
    <section class="flags">
      <div class="heading">
        <h1>Feature flags</h1>
        <label class="inline">
          Environment{" "}
          <input
            value={environment}
            pattern="[a-z0-9\-]{1,32}"
            onChange={(e) => {
              setEnvironment(e.currentTarget.value || "production");
            }}
          />
        </label>
      </div>
      <ErrorMessage text={error} />
      <Notice text={notice} />
      {flags && Object.keys(flags.flags).length === 0 && <p>No flags in {environment}.</p>}
      <ul class="flag-list">
        {flags &&
          Object.entries(flags.flags).map(([key, flag]) => (
            <li key={key}>
              <FlagRow
                name={key}
                flag={flag}
                toggle={() =>
                  void save(key, (f) => ({
                    ...f,
                    state: f.state === "ENABLED" ? "DISABLED" : "ENABLED",
                  }))
                }
                setRollout={(percent) => {
                  setRollout(key, percent);
                }}
              />
            </li>
          ))}
      </ul>
    </section>
  );
}

function FlagRow({
  name,
  flag,
  toggle,
  setRollout,
}: {
  name: string;
  flag: FlagDefinition;
  toggle: () => void;
  setRollout: (percent: number) => void;
}) {
  const share = rollout(flag);
  const [percent, setPercent] = useState(share ?? 0);
  useEffect(() => {
    setPercent(share ?? 0);
  }, [share]);
  const id = `rollout-${name}`;
  return (
    <div class="flag">
      <strong>{name}</strong>
      <button type="button" role="switch" aria-checked={flag.state === "ENABLED"} onClick={toggle}>
        {flag.state === "ENABLED" ? "Enabled" : "Disabled"}
      </button>
      <span class="muted">default: {flag.defaultVariant ?? "(caller's)"}</span>
      {isBoolean(flag) && (
        <span class="rollout">
          <label for={id}>Rolled out to</label>
          <input
            id={id}
            type="range"
            min={0}
            max={100}
            step={5}
            value={percent}
            aria-valuetext={`${percent}%`}
            onInput={(e) => {
              setPercent(Number(e.currentTarget.value));
            }}
            onChange={(e) => {
              setRollout(Number(e.currentTarget.value));
            }}
          />
          <output for={id}>{percent}%</output>
        </span>
      )}
    </div>
  );
}
