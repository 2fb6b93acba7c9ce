import { useEffect, useRef, useState } from "preact/hooks";
import { api, message } from "../api";
import { ErrorMessage, Notice } from "../components/Messages";

interface TemplateSummary {
  key: string;
  category: string;
  description: string;
  locales: string[];
}

interface Parts {
  subject: string;
  text: string;
  html: string;
}

interface TemplateDetail {
  key: string;
  description: string;
  builtIn: Parts;
  /** What admins stored, per locale; the built-in text serves the rest. */
  locales: (Parts & { locale: string })[];
  supportedLocales: string[];
}

/**
 * Notification templates per locale, with a preview rendered by the service
 * from the key's sample data as you type (nothing is saved until Save).
 */
export function Templates() {
  const [templates, setTemplates] = useState<TemplateSummary[] | null>(null);
  const [key, setKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<{ items: TemplateSummary[] }>("GET", "/api/v1/notification-templates").then(
      (answer) => {
        setTemplates(answer.items);
        setKey((k) => k ?? answer.items[0]?.key ?? null);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }, []);
  return (
    <section class="templates">
      <h1>Notification templates</h1>
      <ErrorMessage text={error} />
      <div class="split">
        <nav aria-label="Templates">
          <ul>
            {templates?.map((t) => (
              <li key={t.key}>
                <button
                  type="button"
                  class="link"
                  aria-current={t.key === key ? "true" : undefined}
                  onClick={() => {
                    setKey(t.key);
                  }}
                >
                  {t.key}
                </button>{" "}
                <span class="muted">{t.category}</span>
              </li>
            ))}
          </ul>
        </nav>
        {key && <TemplateEditor key={key} name={key} />}
      </div>
    </section>
  );
}

function TemplateEditor({ name }: { name: string }) {
  const [detail, setDetail] = useState<TemplateDetail | null>(null);
  const [locale, setLocale] = useState("en");
  const [parts, setParts] = useState<Parts>({ subject: "", text: "", html: "" });
  const [preview, setPreview] = useState<Parts | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    api<TemplateDetail>("GET", `/api/v1/notification-templates/${name}`).then(
      setDetail,
      (e: unknown) => {
        setProblem(message(e));
      },
    );
  }, [name]);

  useEffect(() => {
    if (!detail) return;
    const stored = detail.locales.find((l) => l.locale === locale);
    const chosen = stored ?? detail.builtIn;
    setParts({ subject: chosen.subject, text: chosen.text, html: chosen.html });
    setNotice(null);
  }, [detail, locale]);

  useEffect(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      api<Parts>("POST", `/api/v1/notification-templates/${name}/preview`, {
        body: { locale, ...parts },
      }).then(
        (rendered) => {
          setPreview(rendered);
          setProblem(null);
        },
        (e: unknown) => {
          setProblem(message(e));
        },
      );
    }, 300);
    return () => {
      clearTimeout(timer.current);
    };
  }, [name, locale, parts]);

  async function save() {
    try {
      await api("PUT", `/api/v1/notification-templates/${name}`, { body: { locale, ...parts } });
      setNotice(`Saved for ${locale}.`);
    } catch (e) {
      setProblem(message(e));
    }
  }

  if (!detail) return <p aria-busy="true">Loading…</p>;
  return (
    <div class="template-editor">
      <h2>{name}</h2>
      <p class="muted">{detail.description}</p>
      <label class="inline">
        Locale{" "}
        <select
          value={locale}
          onChange={(e) => {
            setLocale(e.currentTarget.value);
          }}
        >
          {detail.supportedLocales.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label>
        Subject
        <input
          value={parts.subject}
          onInput={(e) => {
            setParts({ ...parts, subject: e.currentTarget.value });
          }}
        />
      </label>
      <label>
        Text
        <textarea
          rows={6}
          value={parts.text}
          onInput={(e) => {
            setParts({ ...parts, text: e.currentTarget.value });
          }}
        />
      </label>
      <label>
        HTML
        <textarea
          rows={6}
          value={parts.html}
          onInput={(e) => {
            setParts({ ...parts, html: e.currentTarget.value });
          }}
        />
      </label>
      <ErrorMessage text={problem} />
      <Notice text={notice} />
      <button type="button" onClick={() => void save()}>
        Save
      </button>
      <section class="preview" aria-labelledby="preview-title" aria-live="polite">
        <h3 id="preview-title">Preview with sample data</h3>
        {preview && (
          <>
            <p>
              <strong>Subject:</strong> {preview.subject}
            </p>
            <pre class="preview-text">{preview.text}</pre>
            {/* Rendered in a sandboxed frame: the service escaped the data,
                and the frame runs no script and reaches nothing. */}
            <iframe title="HTML preview" sandbox="" srcDoc={preview.html} class="preview-html" />
          </>
        )}
      </section>
    </div>
  );
}
