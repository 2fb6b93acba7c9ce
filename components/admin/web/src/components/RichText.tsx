import { useEffect, useRef } from "preact/hooks";

const COMMANDS = [
  { command: "bold", label: "Bold" },
  { command: "italic", label: "Italic" },
  { command: "formatBlock", value: "h2", label: "Heading" },
  { command: "formatBlock", value: "p", label: "Paragraph" },
  { command: "insertUnorderedList", label: "List" },
] as const;

/**
 * A small rich-text field over the browser's editing commands. What it sends
 * is HTML the content service sanitizes; what it shows is what the service
 * kept, once saved.
 */
export function RichText({
  label,
  value,
  onInput,
}: {
  label: string;
  value: string;
  onInput: (html: string) => void;
}) {
  const editor = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = editor.current;
    if (element && element.innerHTML !== value && document.activeElement !== element) {
      element.innerHTML = value;
    }
  }, [value]);

  function run(command: string, argument?: string) {
    editor.current?.focus();
    // Still the only way browsers offer to format a contenteditable with undo.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    document.execCommand(command, false, argument);
    onInput(editor.current?.innerHTML ?? "");
  }

  return (
    <div class="rich-text">
      <div role="toolbar" aria-label={`${label} formatting`}>
        {COMMANDS.map((c) => (
          <button
            type="button"
            key={c.label}
            onClick={() => {
              run(c.command, "value" in c ? c.value : undefined);
            }}
          >
            {c.label}
          </button>
        ))}
        <button
          type="button"
          onClick={() => {
            const url = prompt("Link to (https://…)");
            if (url && /^https?:\/\//.test(url)) run("createLink", url);
          }}
        >
          Link
        </button>
      </div>
      <div
        ref={editor}
        class="editable"
        contentEditable
        role="textbox"
        aria-multiline="true"
        aria-label={label}
        tabIndex={0}
        onInput={(e) => {
          onInput(e.currentTarget.innerHTML);
        }}
      />
    </div>
  );
}
