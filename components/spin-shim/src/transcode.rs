//! `folio:platform/transcode`, in the service: ffmpeg runs there, on the
//! component's buckets; a job lives in this instance's session until its
//! handle is dropped, which kills an unfinished one.

use folio_adapter_protocol::{Call, Handle};

use crate::bindings::exports::folio::platform::transcode::{
    Error, Guest, GuestJob, Job, JobState, MediaInfo, TranscodeRequest,
};
use crate::remote;

pub struct RemoteJob(Handle);

impl Guest for crate::Shim {
    type Job = RemoteJob;

    fn probe(bucket: String, key: String) -> Result<MediaInfo, Error> {
        remote::call::<MediaInfo, Error>(&Call::TranscodeProbe { bucket, key })
            .map_err(Error::Unavailable)?
    }
}

impl GuestJob for RemoteJob {
    fn start(request: TranscodeRequest) -> Result<Job, Error> {
        let request = serde_json::to_value(&request).expect("WIT records serialize");
        let job = remote::call::<Handle, Error>(&Call::TranscodeStart { request })
            .map_err(Error::Unavailable)??;
        Ok(Job::new(RemoteJob(job)))
    }

    fn wait(&self, timeout_ms: u32) -> JobState {
        match remote::call::<JobState, ()>(&Call::TranscodeWait {
            job: self.0,
            timeout_ms,
        }) {
            Ok(Ok(state)) => state,
            Ok(Err(())) => JobState::Failed(Error::Unavailable("no answer".into())),
            Err(unreachable) => JobState::Failed(Error::Unavailable(unreachable)),
        }
    }

    fn cancel(&self) {
        let _ = remote::call::<(), ()>(&Call::TranscodeCancel { job: self.0 });
    }
}

impl Drop for RemoteJob {
    fn drop(&mut self) {
        remote::close(Call::TranscodeClose { job: self.0 });
    }
}
