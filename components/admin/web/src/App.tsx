import { useEffect, useState } from "preact/hooks";
import { api, refresh, session, signOut } from "./api";
import { lazy } from "./lazy";
import { href, onLinkClick, path } from "./router";
import { SignIn } from "./screens/SignIn";

const ContentList = lazy(() => import("./screens/ContentList").then((m) => m.ContentList));
const ContentEditor = lazy(() => import("./screens/ContentEditor").then((m) => m.ContentEditor));
const MediaLibrary = lazy(() => import("./screens/MediaLibrary").then((m) => m.MediaLibrary));
const Dashboard = lazy(() => import("./screens/Dashboard").then((m) => m.Dashboard));
const Users = lazy(() => import("./screens/Users").then((m) => m.Users));
const Publishing = lazy(() => import("./screens/Publishing").then((m) => m.Publishing));
const Flags = lazy(() => import("./screens/Flags").then((m) => m.Flags));
const Templates = lazy(() => import("./screens/Templates").then((m) => m.Templates));
const Calendar = lazy(() => import("./screens/Calendar").then((m) => m.Calendar));
const Account = lazy(() => import("./screens/Account").then((m) => m.Account));
const Billing = lazy(() => import("./screens/Billing").then((m) => m.Billing));
const Subscriptions = lazy(() => import("./screens/Subscriptions").then((m) => m.Subscriptions));

export interface Me {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  role: "admin" | "creator" | "consumer";
}

const SCREENS = [
  { to: "/", label: "Dashboard", roles: ["admin"] },
  { to: "/content", label: "Content", roles: ["admin", "creator"] },
  { to: "/calendar", label: "Calendar", roles: ["admin", "creator"] },
  { to: "/media", label: "Media", roles: ["admin", "creator"] },
  { to: "/publishing", label: "Publishing", roles: ["admin"] },
  { to: "/users", label: "Users", roles: ["admin"] },
  { to: "/templates", label: "Notifications", roles: ["admin"] },
  { to: "/flags", label: "Flags", roles: ["admin"] },
  { to: "/billing", label: "Billing", roles: ["admin"] },
  { to: "/subscriptions", label: "Subscriptions", roles: ["admin"] },
] as const;

export function App() {
  const [restoring, setRestoring] = useState(true);
  const [me, setMe] = useState<Me | null>(null);
  const signedIn = session.value !== null;

  useEffect(() => {
    void refresh().finally(() => {
      setRestoring(false);
    });
  }, []);

  useEffect(() => {
    if (!signedIn) {
      setMe(null);
      return;
    }
    api<Me>("GET", "/api/v1/users/me").then(setMe, () => {
      setMe(null);
    });
  }, [signedIn]);

  // Keeps the access token fresh while the app is open.
  useEffect(() => {
    const expiresAt = session.value?.expiresAt;
    if (!expiresAt) return;
    const timer = setTimeout(
      () => void refresh(),
      Math.max(expiresAt - Date.now() - 60_000, 5_000),
    );
    return () => {
      clearTimeout(timer);
    };
  }, [session.value?.expiresAt]);

  if (restoring) return <p aria-busy="true">Loading…</p>;
  if (!signedIn) return <SignIn />;
  if (!me) return <p aria-busy="true">Loading…</p>;

  const current = path();
  const screens = SCREENS.filter((s) => (s.roles as readonly string[]).includes(me.role));
  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="bar">
        <a class="brand" href={href("/")}>
          Folio
        </a>
        <nav aria-label="Screens">
          <ul>
            {screens.map((s) => (
              <li key={s.to}>
                <a
                  href={href(s.to)}
                  aria-current={
                    (s.to === "/" ? current === "/" : current.startsWith(s.to)) ? "page" : undefined
                  }
                >
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <a
          class="who"
          href={href("/account")}
          aria-current={current === "/account" ? "page" : undefined}
        >
          {me.firstName} {me.lastName} ({me.role})
        </a>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Screen path={current} me={me} />
      </main>
    </div>
  );
}

function Screen({ path, me }: { path: string; me: Me }) {
  if (path === "/" && me.role === "admin") return <Dashboard />;
  if (path === "/" || path === "/content") return <ContentList me={me} />;
  if (path === "/content/new") return <ContentEditor me={me} id={null} />;
  const item = /^\/content\/([0-9a-f-]{36})$/.exec(path);
  if (item?.[1]) return <ContentEditor me={me} id={item[1]} />;
  if (path === "/media") return <MediaLibrary />;
  if (path === "/calendar") return <Calendar />;
  if (path === "/account") return <Account me={me} />;
  if (me.role === "admin") {
    if (path === "/users") return <Users me={me} />;
    if (path === "/publishing") return <Publishing />;
    if (path === "/templates") return <Templates />;
    if (path === "/flags") return <Flags />;
    if (path === "/billing") return <Billing />;
    if (path === "/subscriptions") return <Subscriptions />;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no screen at this address. <a href={href("/")}>Go to the start</a>.
      </p>
    </section>
  );
}
