//! Event deliveries and cron ticks sent to a Spin app instead of run in a
//! local instance (`folio adapters --deliver-to URL`). The triggers keep
//! everything else: consumer groups, lanes, retries with backoff, dead
//! letters, offsets committed in order, once-per-cluster cron claims. Only
//! the one try changes: a POST to the component's delivery route
//! (`folio_adapter_protocol::DELIVER_PREFIX`), which `folio export spin`
//! composes around the component.
//!
//! Events go as CloudEvents over HTTP in binary mode: the attributes and
//! extensions in `ce-` headers (percent-encoded), the data as the body with
//! its `content-type`.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use folio_adapter_protocol::{
    ATTEMPT_HEADER, DELIVER_PREFIX, SCHEDULED_AT_HEADER, TOPIC_HEADER, delivery_token,
    encode_header_value,
};
use folio_events::CloudEvent;
use http_body_util::{BodyExt, Full, Limited};
use tokio::net::TcpStream;

/// How long a delivery may take to answer before it counts as a failed try.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer's body kept (for the retry's or dead letter's reason).
const MAX_ANSWER_BYTES: usize = 16 << 10;

pub struct RemoteDelivery {
    scheme: String,
    authority: http::uri::Authority,
    secret: Vec<u8>,
}

/// What the delivery route answered.
pub enum Answer {
    Done,
    /// 422: the event can never succeed.
    Rejected(String),
    /// Anything else, or no answer: try again.
    Failed(String),
}

impl RemoteDelivery {
    /// Deliveries to the Spin app at `base_url` (`http://` or `https://`),
    /// authenticated with tokens derived from `secret`.
    pub fn new(base_url: &str, secret: Vec<u8>) -> anyhow::Result<RemoteDelivery> {
        let uri: http::Uri = base_url
            .parse()
            .with_context(|| format!("--deliver-to {base_url:?}"))?;
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme @ ("http" | "https")), Some(authority)) => Ok(RemoteDelivery {
                scheme: scheme.to_string(),
                authority: authority.clone(),
                secret,
            }),
            _ => anyhow::bail!("--deliver-to {base_url:?}: an http:// or https:// URL with a host"),
        }
    }

    /// One try of `event` on `component`'s event route.
    pub async fn event(
        &self,
        component: &str,
        event: &CloudEvent,
        attempt: u32,
        deadline: Duration,
    ) -> Answer {
        let mut request = self.request(component, "events");
        let attributes = [
            ("ce-specversion", Some("1.0")),
            ("ce-id", Some(event.id.as_str())),
            ("ce-source", Some(event.source.as_str())),
            ("ce-type", Some(event.event_type.as_str())),
            ("ce-subject", event.subject.as_deref()),
            (
                "ce-time",
                Some(event.time.as_str()).filter(|t| !t.is_empty()),
            ),
        ];
        for (name, value) in attributes {
            if let Some(value) = value {
                request = request.header(name, encode_header_value(value));
            }
        }
        for (name, value) in &event.extensions {
            request = request.header(format!("ce-{name}"), encode_header_value(value));
        }
        if !event.datacontenttype.is_empty() {
            request = request.header("content-type", encode_header_value(&event.datacontenttype));
        }
        let request = request
            .header(TOPIC_HEADER, encode_header_value(&event.topic))
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(Full::new(Bytes::from(event.data.clone())));
        self.send(request, deadline).await
    }

    /// One cron tick of `component`, for fire time `timestamp` (Unix seconds).
    pub async fn cron(&self, component: &str, timestamp: u64, deadline: Duration) -> Answer {
        let request = self
            .request(component, "cron")
            .header(SCHEDULED_AT_HEADER, timestamp.to_string())
            .body(Full::new(Bytes::new()));
        self.send(request, deadline).await
    }

    fn request(&self, component: &str, route: &str) -> http::request::Builder {
        http::Request::post(format!("{DELIVER_PREFIX}{component}/{route}"))
            .header(http::header::HOST, self.authority.as_str())
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", delivery_token(&self.secret, component)),
            )
    }

    async fn send(
        &self,
        request: Result<http::Request<Full<Bytes>>, http::Error>,
        deadline: Duration,
    ) -> Answer {
        let exchange = async {
            let request = request.context("a delivery request")?;
            let (status, body) = self.exchange(request).await?;
            anyhow::Ok((status, body))
        };
        match tokio::time::timeout(deadline, exchange).await {
            Err(_) => Answer::Failed(format!("no answer within {deadline:?}")),
            Ok(Err(e)) => Answer::Failed(format!("{e:#}")),
            Ok(Ok((status, _))) if status.is_success() => Answer::Done,
            Ok(Ok((status, body))) if status == http::StatusCode::UNPROCESSABLE_ENTITY => {
                Answer::Rejected(body)
            }
            Ok(Ok((status, body))) => Answer::Failed(format!("{status}: {body}")),
        }
    }

    /// One HTTP/1.1 exchange on a new connection (loopback or a pod's
    /// neighbour: the connection costs less than the instance it calls).
    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> anyhow::Result<(http::StatusCode, String)> {
        let host = self.authority.host();
        let port = self
            .authority
            .port_u16()
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 });
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .context("connecting timed out")?
            .with_context(|| format!("cannot connect to {}", self.authority))?;
        let _ = stream.set_nodelay(true);
        if self.scheme == "https" {
            let name = crate::outbound::tls_server_name(host)?;
            let stream = crate::outbound::tls_connector()
                .connect(name, stream)
                .await
                .context("TLS")?;
            exchange_on(stream, request).await
        } else {
            exchange_on(stream, request).await
        }
    }
}

async fn exchange_on<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
) -> anyhow::Result<(http::StatusCode, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_else(|_| "(an answer too long to keep)".into());
    connection.abort();
    Ok((status, body))
}
