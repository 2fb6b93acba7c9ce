import { useState } from "preact/hooks";
import { formText } from "../forms";
import { api, message, startSession, type TokenAnswer } from "../api";

interface MfaChallenge {
  mfaRequired: true;
  mfaToken: string;
}

type LoginAnswer = TokenAnswer | MfaChallenge;

export function SignIn() {
  const [challenge, setChallenge] = useState<string | null>(null);
  const [useRecovery, setUseRecovery] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = (name: string) => formText(form, name);
    setBusy(true);
    setError(null);
    try {
      if (challenge === null) {
        const answer = await api<LoginAnswer>("POST", "/api/v1/auth/login", {
          anonymous: true,
          body: { email: text("email"), password: form.get("password") },
        });
        if ("mfaRequired" in answer) setChallenge(answer.mfaToken);
        else startSession(answer);
      } else {
        const code = useRecovery ? { recoveryCode: text("code") } : { code: text("code") };
        startSession(
          await api<TokenAnswer>("POST", "/api/v1/auth/mfa", {
            anonymous: true,
            body: { mfaToken: challenge, ...code },
          }),
        );
      }
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="sign-in" id="main">
      <h1>Sign in to Folio</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby={error ? "sign-in-error" : undefined}>
        {challenge === null ? (
          <>
            <label>
              Email
              <input name="email" type="email" autocomplete="username" required />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
          </>
        ) : (
          <>
            <p>
              {useRecovery
                ? "Enter one of your recovery codes. Each works once."
                : "Enter the 6-digit code from your authenticator app."}
            </p>
            <label>
              {useRecovery ? "Recovery code" : "Authentication code"}
              <input
                name="code"
                autocomplete="one-time-code"
                inputMode={useRecovery ? "text" : "numeric"}
                pattern={useRecovery ? "[a-z2-7]{5}-[a-z2-7]{5}" : "[0-9]{6}"}
                required
                autoFocus
              />
            </label>
            <button
              type="button"
              class="link"
              onClick={() => {
                setUseRecovery(!useRecovery);
              }}
            >
              {useRecovery ? "Use the authenticator app" : "Use a recovery code"}
            </button>
          </>
        )}
        {error && (
          <p id="sign-in-error" role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {challenge === null ? "Sign in" : "Verify"}
        </button>
      </form>
    </main>
  );
}
