// Screens load when first shown, so the first load carries only the shell.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  return function Lazy(props: P) {
    const [Screen, setScreen] = useState<ComponentType<P> | null>(() => loaded);
    const [failed, setFailed] = useState<string | null>(null);
    useEffect(() => {
      if (Screen) return;
      load().then(
        (component) => {
          loaded = component;
          setScreen(() => component);
        },
        (error: unknown) => {
          setFailed(String(error));
        },
      );
    }, [Screen]);
    if (failed) return <p role="alert">This screen did not load: {failed}</p>;
    return Screen ? <Screen {...props} /> : <p aria-busy="true">Loading…</p>;
  };
}
