//! Closes keep-alive connections that do nothing: the socket is wrapped so
//! every read and write marks it active, and a connection with no request
//! in flight and no traffic for the idle timeout is dropped. A request in
//! flight (a slow guest, a long download) is never cut by it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct IdleWatch<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Shared by the socket wrapper, the service (requests in flight) and the
/// connection task (which waits for expiry).
#[derive(Clone)]
pub struct IdleHandle(Arc<Activity>);

struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S> IdleWatch<S> {
    pub fn new(inner: S) -> (IdleWatch<S>, IdleHandle) {
        let activity = Arc::new(Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        });
        (
            IdleWatch {
                inner,
                activity: activity.clone(),
            },
            IdleHandle(activity),
        )
    }
}

/// Marks a request in flight until dropped.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl IdleHandle {
    pub fn request_started(&self) -> Busy {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.0.clone())
    }

    /// Resolves once the connection has been idle for `timeout`.
    pub async fn expired(&self, timeout: Duration) {
        loop {
            let now = self.0.origin.elapsed();
            let last = Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed));
            let idle_for = now.saturating_sub(last);
            if self.0.in_flight.load(Ordering::Relaxed) == 0 && idle_for >= timeout {
                return;
            }
            let wait = if self.0.in_flight.load(Ordering::Relaxed) > 0 {
                timeout
            } else {
                timeout - idle_for
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
