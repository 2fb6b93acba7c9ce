import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, message } from "./api";

/**
 * What `GET path` answers: loaded when the screen shows, again when `path`
 * changes and on `reload()`. An answer to an earlier load is dropped, so a
 * quick change of filter never shows the previous one's data. `onError`
 * hears why a load failed (the screen's own error message, usually).
 */
// The caller names the shape of the answer, as with `api<T>()`.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function useLoad<T>(
  path: string,
  onError: (text: string) => void,
): { data: T | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    api<T>("GET", path).then(
      (answer) => {
        if (mine === generation.current) setData(answer);
      },
      (e: unknown) => {
        if (mine === generation.current) onError(message(e));
      },
    );
    // `onError` is a state setter: the same function on every render.
  }, [path]);
  useEffect(reload, [reload]);
  return { data, reload };
}
