//! Folio's password-hashing adapter: `folio:platform/passwords`. Argon2id
//! with the OWASP parameters (`folio_auth::password`) runs natively on a
//! bounded pool: at most `threads` hashes at once, on threads of lower
//! priority, and `max_waiting` calls queued behind them; a call past that
//! answers `busy` at once instead of piling up instances. A guest waiting for
//! its hash holds no executor thread (the host call is async).

pub mod runtime_config;

use std::sync::Arc;

use std::sync::Mutex;
use wasmtime::component::{HasData, Linker};

pub use runtime_config::{PasswordsConfig, PoolSettings};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/password-hashing",
        imports: { default: async },
    });
}

use bindings::folio::platform::passwords as wit;

/// The host's hashing pool, shared by every component: `threads` threads of
/// their own at a lower scheduling priority (nice 10), so hashing takes every
/// idle cycle but yields the CPU to request handling at once. A flood of
/// sign-ins slows sign-ins, not the other routes.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Every thread is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Hashing threads run at this nice value (0 is normal, 19 the lowest).
const HASHING_NICENESS: libc::c_int = 10;

impl PasswordHasher {
    pub fn new(settings: PoolSettings) -> PasswordHasher {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(settings.max_waiting);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..settings.threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("folio-argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().unwrap().recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("a hashing thread starts");
        }
        PasswordHasher { jobs }
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        let salt: [u8; folio_auth::password::SALT_LEN] = rand::random();
        self.run(move || folio_auth::password::hash(&password, salt))
            .await
    }

    /// Whether `password` matches `phc`; an empty `phc` costs a real check
    /// against a dummy hash and is false.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, Busy> {
        self.run(move || {
            if phc.is_empty() {
                folio_auth::password::verify_against_dummy(&password);
                false
            } else {
                folio_auth::password::verify(&password, &phc)
            }
        })
        .await
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.try_send(job).map_err(|_| Busy)?;
        result.await.map_err(|_| Busy)
    }
}

fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread; failure leaves the priority as it was.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, HASHING_NICENESS);
    }
}

struct PasswordsData;

impl HasData for PasswordsData {
    type Data<'a> = &'a PasswordHasher;
}

impl wit::Host for &PasswordHasher {
    async fn hash(&mut self, password: String) -> Result<String, wit::PasswordError> {
        PasswordHasher::hash(self, password)
            .await
            .map_err(|Busy| wit::PasswordError::Busy)
    }

    async fn verify(&mut self, password: String, phc: String) -> Result<bool, wit::PasswordError> {
        PasswordHasher::verify(self, password, phc)
            .await
            .map_err(|Busy| wit::PasswordError::Busy)
    }
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &PasswordHasher,
) -> anyhow::Result<()> {
    wit::add_to_linker::<T, PasswordsData>(linker, view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize, max_waiting: usize) -> PasswordHasher {
        PasswordHasher::new(PoolSettings {
            threads,
            max_waiting,
        })
    }

    #[tokio::test]
    async fn hashes_verify_and_dummies_are_false() {
        let hasher = pool(1, 4);
        let phc = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify("correct horse battery".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse battery".into(), phc)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("anything".into(), String::new())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("anything".into(), "not a phc".into())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let hasher = pool(1, 1);
        let calls: Vec<_> = (0..6)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => done += 1,
                Err(Busy) => busy += 1,
            }
        }
        assert!(
            busy >= 1,
            "a pool of 1 + 1 waiting refused nothing out of 6"
        );
        assert!(done >= 1, "{done} done");
        assert!(hasher.hash("once the queue drained".into()).await.is_ok());
    }
}
