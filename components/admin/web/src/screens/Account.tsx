import qrcode from "qrcode-generator";
import { useEffect, useState } from "preact/hooks";
import type { Me } from "../App";
import { api, message } from "../api";
import { ErrorMessage, Notice } from "../components/Messages";
import { formText } from "../forms";

interface Enrolment {
  secret: string;
  otpauthUri: string;
}

/** The signed-in user's own security: two-step sign-in and the password. */
export function Account({ me }: { me: Me }) {
  const [mfa, setMfa] = useState<boolean | null>(null);
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  function load() {
    api<{ mfaEnabled: boolean }>("GET", "/api/v1/users/me").then(
      (user) => {
        setMfa(user.mfaEnabled);
      },
      (e: unknown) => {
        setError(message(e));
      },
    );
  }
  useEffect(load, []);

  async function start() {
    setError(null);
    try {
      setEnrolment(await api<Enrolment>("POST", "/api/v1/users/me/mfa/totp", { body: {} }));
    } catch (e) {
      setError(message(e));
    }
  }

  async function confirm(event: SubmitEvent) {
    event.preventDefault();
    const code = formText(new FormData(event.currentTarget as HTMLFormElement), "code");
    setError(null);
    try {
      const answer = await api<{ recoveryCodes: string[] }>(
        "POST",
        "/api/v1/users/me/mfa/totp/verify",
        { body: { code } },
      );
      setCodes(answer.recoveryCodes);
      setEnrolment(null);
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  async function turnOff(event: SubmitEvent) {
    event.preventDefault();
    const code = formText(new FormData(event.currentTarget as HTMLFormElement), "code");
    setError(null);
    try {
      const body = /^\d{6}$/.test(code) ? { code } : { recoveryCode: code };
      await api("DELETE", "/api/v1/users/me/mfa", { body });
      setCodes(null);
      setNotice("Two-step sign-in is off.");
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  async function changePassword(event: SubmitEvent) {
    event.preventDefault();
    const element = event.currentTarget as HTMLFormElement;
    const form = new FormData(element);
    setError(null);
    try {
      await api("POST", "/api/v1/users/me/password", {
        body: { currentPassword: form.get("current"), newPassword: form.get("new") },
      });
      element.reset();
      setNotice("Password changed; your other sessions were signed out.");
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section class="account">
      <h1>Your account</h1>
      <p>
        {me.firstName} {me.lastName}, {me.email} ({me.role})
      </p>
      <ErrorMessage text={error} />
      <Notice text={notice} />
      <h2>Two-step sign-in</h2>
      {mfa === true && !codes && (
        <form class="fields narrow" onSubmit={(e) => void turnOff(e)}>
          <p>On: signing in asks for a code from your authenticator app.</p>
          <label>
            Code or recovery code, to turn it off
            <input name="code" autocomplete="one-time-code" required />
          </label>
          <button type="submit">Turn off</button>
        </form>
      )}
      {mfa === false && !enrolment && (
        <button type="button" onClick={() => void start()}>
          Turn on two-step sign-in
        </button>
      )}
      {enrolment && <Enrol enrolment={enrolment} confirm={confirm} />}
      {codes && (
        <div class="recovery" role="status">
          <p>
            Two-step sign-in is on. Keep these recovery codes somewhere safe: each signs you in once
            if you lose your phone, and they are shown only now.
          </p>
          <ul class="codes">
            {codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      <h2>Password</h2>
      <form class="fields narrow" onSubmit={(e) => void changePassword(e)}>
        <label>
          Current password
          <input name="current" type="password" autocomplete="current-password" required />
        </label>
        <label>
          New password (at least 12 characters)
          <input name="new" type="password" autocomplete="new-password" minLength={12} required />
        </label>
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}

function Enrol({
  enrolment,
  confirm,
}: {
  enrolment: Enrolment;
  confirm: (event: SubmitEvent) => Promise<void>;
}) {
  const qr = qrcode(0, "M");
  qr.addData(enrolment.otpauthUri);
  qr.make();
  return (
    <form class="fields narrow" onSubmit={(e) => void confirm(e)}>
      <p>Scan this with your authenticator app, or enter the key by hand.</p>
      <img
        src={qr.createDataURL(4, 2)}
        alt="QR code of the authenticator key"
        width={200}
        height={200}
      />
      <p>
        Key: <code class="secret">{enrolment.secret}</code>
      </p>
      <label>
        The 6-digit code the app shows
        <input
          name="code"
          inputMode="numeric"
          pattern="[0-9]{6}"
          autocomplete="one-time-code"
          required
        />
      </label>
      <button type="submit">Confirm</button>
    </form>
  );
}
