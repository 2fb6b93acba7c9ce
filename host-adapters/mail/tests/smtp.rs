//! The mail adapter against a real SMTP server on loopback (aiosmtpd,
//! `tests/support/smtp_sink.py`), in each TLS mode, with AUTH, deferrals
//! and refusals; and the file transport.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use folio_mail::{MailConfig, MailError, Mailer, OutgoingMail};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter with aiosmtpd: `FOLIO_TEST_PYTHON`, or `infra/pytools.sh`'s.
fn python() -> String {
    if let Ok(python) = std::env::var("FOLIO_TEST_PYTHON") {
        return python;
    }
    let out = Command::new("bash")
        .arg(repo_root().join("infra/pytools.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "infra/pytools.sh failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Sink {
    child: Child,
    port: u16,
    ca: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    fn start(args: &[&str]) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/support/smtp_sink.py"))
            .arg("--out")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP sink starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value =
            serde_json::from_str(&line).expect("the sink says where it listens");
        Sink {
            child,
            port: ready["port"].as_u64().unwrap() as u16,
            ca: ready["ca"].as_str().map(PathBuf::from),
            dir,
        }
    }

    fn mailer(&self, extra: serde_json::Value) -> Mailer {
        let mut config = serde_json::json!({
            "transport": "smtp",
            "host": "127.0.0.1",
            "port": self.port,
            "from": "Folio <no-reply@folio.test>",
            "retry_backoff_ms": 20,
        });
        if let Some(ca) = &self.ca {
            config["ca_file"] = ca.display().to_string().into();
        }
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let config: MailConfig = serde_json::from_value(config).unwrap();
        Mailer::new(config.settings(Path::new("/unused")).unwrap()).unwrap()
    }

    /// Each accepted message: its bytes and its envelope.
    fn received(&self) -> Vec<(String, serde_json::Value)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|eml| {
                let text = std::fs::read_to_string(eml).unwrap();
                let envelope = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (text, serde_json::from_str(&envelope).unwrap())
            })
            .collect()
    }
}

fn mail(id: &str, to: &str) -> OutgoingMail {
    OutgoingMail {
        id: id.into(),
        sender: None,
        to: vec![to.into()],
        reply_to: None,
        subject: "Your digest".into(),
        text: "three new articles".into(),
        html: Some("<p>three new articles</p>".into()),
        list_unsubscribe: Some("https://folio.test/unsubscribe/t0k3n".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_delivers_a_multipart_message() {
    let sink = Sink::start(&[
        "--tls",
        "starttls",
        "--user",
        "folio",
        "--password",
        "s3cret",
    ]);
    let mailer = sink
        .mailer(serde_json::json!({"tls": "starttls", "username": "folio", "password": "s3cret"}));
    let sent = mailer
        .send("notifications", &mail("n-1", "Ada <ada@example.test>"))
        .await
        .unwrap();
    assert_eq!(sent.message_id, "<n-1@folio.test>");
    assert!(sent.response.starts_with("250"), "{}", sent.response);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let (text, envelope) = &received[0];
    assert_eq!(envelope["auth_user"], "folio");
    assert_eq!(envelope["tls"], true);
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["ada@example.test"])
    );
    assert!(text.contains("Message-ID: <n-1@folio.test>"));
    assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(text.contains("multipart/alternative"));

    let wrong = sink
        .mailer(serde_json::json!({"tls": "starttls", "username": "folio", "password": "guess"}));
    let refused = wrong
        .send("notifications", &mail("n-2", "ada@example.test"))
        .await
        .unwrap_err();
    assert!(matches!(refused, MailError::Rejected(_)), "{refused:?}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_checks_the_servers_certificate() {
    let sink = Sink::start(&[
        "--tls",
        "implicit",
        "--user",
        "folio",
        "--password",
        "s3cret",
    ]);
    let mailer = sink
        .mailer(serde_json::json!({"tls": "implicit", "username": "folio", "password": "s3cret"}));
    mailer
        .send("notifications", &mail("n-1", "ada@example.test"))
        .await
        .unwrap();
    assert_eq!(sink.received()[0].1["tls"], true);

    // Without the test CA the server's certificate is not trusted: nothing is sent.
    let mut config: serde_json::Value = serde_json::json!({
        "transport": "smtp", "host": "127.0.0.1", "port": sink.port, "tls": "implicit",
        "username": "folio", "password": "s3cret", "max_attempts": 1,
    });
    config["from"] = "Folio <no-reply@folio.test>".into();
    let config: MailConfig = serde_json::from_value(config).unwrap();
    let untrusting = Mailer::new(config.settings(Path::new("/unused")).unwrap()).unwrap();
    let e = untrusting
        .send("notifications", &mail("n-2", "ada@example.test"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferrals_are_retried_and_refusals_are_not() {
    let sink = Sink::start(&["--defer-first", "2", "--reject", "nobody"]);
    let mailer = sink.mailer(serde_json::json!({"tls": "none", "max_attempts": 3}));
    mailer
        .send("notifications", &mail("n-1", "ada@example.test"))
        .await
        .unwrap();
    assert_eq!(sink.received().len(), 1, "sent on the third try, once");

    let refused = mailer
        .send("notifications", &mail("n-2", "nobody@example.test"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, MailError::Rejected(ref m) if m.contains("no such user")),
        "{refused:?}"
    );

    let sink = Sink::start(&["--defer-first", "5"]);
    let mailer = sink.mailer(serde_json::json!({"tls": "none", "max_attempts": 2}));
    let gave_up = mailer
        .send("notifications", &mail("n-3", "ada@example.test"))
        .await
        .unwrap_err();
    assert!(
        matches!(gave_up, MailError::Unavailable(ref m) if m.contains("after 2 tries")),
        "{gave_up:?}"
    );
}

#[tokio::test]
async fn the_file_transport_writes_each_id_once() {
    let dir = tempfile::tempdir().unwrap();
    let config: MailConfig =
        serde_json::from_value(serde_json::json!({"from": "Folio <no-reply@folio.test>"})).unwrap();
    let mailer = Mailer::new(config.settings(dir.path()).unwrap()).unwrap();
    let first = mailer
        .send("notifications", &mail("n-1", "ada@example.test"))
        .await
        .unwrap();
    assert!(
        first.response.starts_with("written to"),
        "{}",
        first.response
    );
    let path = dir.path().join("mail/n-1.eml");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("Subject: Your digest"));

    let mut changed = mail("n-1", "ada@example.test");
    changed.subject = "Something else".into();
    let again = mailer.send("notifications", &changed).await.unwrap();
    assert!(
        again.response.starts_with("already written"),
        "{}",
        again.response
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    let files = std::fs::read_dir(dir.path().join("mail")).unwrap().count();
    assert_eq!(files, 1, "no temporary file is left behind");

    // A write a crash cut short is cleared when the transport starts again.
    std::fs::write(dir.path().join("mail/.n-2.123.tmp"), b"half a mess").unwrap();
    Mailer::new(config.settings(dir.path()).unwrap()).unwrap();
    let files = std::fs::read_dir(dir.path().join("mail")).unwrap().count();
    assert_eq!(files, 1);
}
