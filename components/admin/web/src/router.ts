// The app's screens are paths under /admin/; links change history, the
// server answers every such path with the app.
import { signal } from "@preact/signals";

const BASE = "/admin";

function current(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "/";
  return (path || "/") + location.search;
}

export const route = signal(current());

addEventListener("popstate", () => {
  route.value = current();
});

export function navigate(to: string, replace = false): void {
  const url = BASE + to;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route.value = current();
}

export function href(to: string): string {
  return BASE + to;
}

/** Follows a same-app link without reloading; other clicks keep their default. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.target as Element).closest("a");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(anchor.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(`${BASE}/`)) return;
  event.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search);
}

export function path(): string {
  return route.value.split("?")[0] ?? "/";
}

export function query(): URLSearchParams {
  return new URLSearchParams(route.value.split("?")[1] ?? "");
}
