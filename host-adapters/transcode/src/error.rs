//! What can go wrong, one variant per case of `folio:platform/transcode`'s `error`.

use folio_blobs::BlobError;

#[derive(Debug, Clone, PartialEq)]
pub enum TranscodeError {
    NoSuchBucket(String),
    NotFound(String),
    InvalidMedia(String),
    InvalidArgument(String),
    Failed(String),
    TimedOut(String),
    Cancelled,
    Unavailable(String),
}

impl TranscodeError {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TranscodeError::NoSuchBucket(_) => "no-such-bucket",
            TranscodeError::NotFound(_) => "not-found",
            TranscodeError::InvalidMedia(_) => "invalid-media",
            TranscodeError::InvalidArgument(_) => "invalid-argument",
            TranscodeError::Failed(_) => "failed",
            TranscodeError::TimedOut(_) => "timed-out",
            TranscodeError::Cancelled => "cancelled",
            TranscodeError::Unavailable(_) => "unavailable",
        }
    }
}

impl std::fmt::Display for TranscodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranscodeError::NoSuchBucket(m) => write!(f, "no such bucket: {m}"),
            TranscodeError::NotFound(m) => write!(f, "not found: {m}"),
            TranscodeError::InvalidMedia(m) => write!(f, "invalid media: {m}"),
            TranscodeError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            TranscodeError::Failed(m) => write!(f, "failed: {m}"),
            TranscodeError::TimedOut(m) => write!(f, "timed out: {m}"),
            TranscodeError::Cancelled => write!(f, "cancelled"),
            TranscodeError::Unavailable(m) => write!(f, "unavailable: {m}"),
        }
    }
}

impl std::error::Error for TranscodeError {}

impl From<BlobError> for TranscodeError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::InvalidKey(m) | BlobError::InvalidArgument(m) | BlobError::TooLarge(m) => {
                TranscodeError::InvalidArgument(m)
            }
            BlobError::Closed => {
                TranscodeError::Unavailable("the bucket closed the transfer".into())
            }
            BlobError::Unavailable(m) => TranscodeError::Unavailable(format!("bucket: {m}")),
        }
    }
}

impl From<std::io::Error> for TranscodeError {
    fn from(e: std::io::Error) -> Self {
        TranscodeError::Unavailable(format!("work directory: {e}"))
    }
}
