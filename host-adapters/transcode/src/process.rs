//! Runs ffmpeg or ffprobe as a child process: an argument vector (never a
//! shell), no stdin, an empty environment, its own process group, lowered
//! priority, address-space and CPU-time limits, a deadline, and a way to stop
//! it early. stderr is drained continuously and its tail kept for errors.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

/// How much of stderr an error message carries.
pub const STDERR_TAIL_BYTES: usize = 2048;
/// ffprobe's JSON for any sane file is far below this.
const MAX_COLLECTED_STDOUT: usize = 4 << 20;
/// Child processes run below the host's priority, so requests stay responsive.
const NICENESS: libc::c_int = 10;
/// Between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
const CPU_GRACE_SECS: u64 = 5;

#[derive(Debug, Clone, Copy)]
pub struct ProcessLimits {
    pub memory_bytes: u64,
    pub cpu_secs: u64,
}

/// Why a run was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interrupt {
    /// `job.cancel`.
    Cancelled,
    /// The job's owner went away (the guest instance ended).
    Abandoned,
}

pub enum StdoutUse<'a> {
    /// Keep it (ffprobe's JSON).
    Collect,
    /// ffmpeg's `-progress pipe:1`: called with each `out_time` it reports.
    Progress(&'a mut (dyn FnMut(Duration) + Send)),
}

#[derive(Debug)]
pub struct Finished {
    pub stdout: Vec<u8>,
}

#[derive(Debug)]
pub enum RunError {
    Spawn(io::Error),
    /// Ended by itself, unsuccessfully: by exit status or by a signal not ours.
    Exited {
        status: ExitStatus,
        stderr_tail: String,
    },
    TimedOut {
        stderr_tail: String,
    },
    Interrupted(Interrupt),
}

/// Runs `program` with `args` until it ends, `deadline` passes or
/// `interrupt` is set. Paths under `work_dir` are shortened to relative ones
/// in the stderr tail, so errors do not tell the guest the host's layout.
pub async fn run(
    program: &Path,
    args: &[OsString],
    limits: ProcessLimits,
    deadline: Instant,
    interrupt: &mut watch::Receiver<Option<Interrupt>>,
    stdout_use: StdoutUse<'_>,
    work_dir: &Path,
) -> Result<Finished, RunError> {
    if let Some(why) = *interrupt.borrow() {
        return Err(RunError::Interrupted(why));
    }
    let mut command = Command::new(program);
    command
        .args(args)
        // The host's environment holds credentials (AWS_*, FOLIO_VAR_*); ffmpeg needs none of it.
        .env_clear()
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let ProcessLimits {
        memory_bytes,
        cpu_secs,
    } = limits;
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // setrlimit and nice are plain system calls, and nothing allocates.
    unsafe {
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, memory_bytes, memory_bytes)?;
            set_limit(libc::RLIMIT_CPU, cpu_secs, cpu_secs + CPU_GRACE_SECS)?;
            // Relative to the host's own niceness; raising it cannot fail.
            libc::nice(NICENESS);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    // Its own task: it must keep draining even while this future waits, or
    // a chatty ffmpeg blocks on a full pipe.
    let stderr_tail = tokio::spawn(read_tail(stderr));

    let reading = read_stdout(stdout, stdout_use);
    let ending = async {
        let ending = tokio::select! {
            status = child.wait() => Ending::Exited(status),
            _ = tokio::time::sleep_until(deadline) => Ending::Killed(None),
            why = interrupted(interrupt) => Ending::Killed(Some(why)),
        };
        if let (Ending::Killed(_), Some(pid)) = (&ending, pid) {
            kill_group(pid);
            // Reap it, so no zombie is left behind; this also ends `reading`.
            let _ = child.wait().await;
        }
        ending
    };
    let (collected, ending) = tokio::join!(reading, ending);
    let tail = stderr_tail.await.unwrap_or_default();
    let tail = shorten_paths(&tail, work_dir);
    match ending {
        Ending::Exited(Ok(status)) if status.success() => Ok(Finished { stdout: collected }),
        Ending::Exited(Ok(status)) => Err(RunError::Exited {
            status,
            stderr_tail: tail,
        }),
        Ending::Exited(Err(e)) => Err(RunError::Spawn(e)),
        Ending::Killed(None) => Err(RunError::TimedOut { stderr_tail: tail }),
        Ending::Killed(Some(why)) => Err(RunError::Interrupted(why)),
    }
}

enum Ending {
    Exited(io::Result<ExitStatus>),
    /// By us: the deadline (none) or an interrupt.
    Killed(Option<Interrupt>),
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: a plain system call on a valid struct.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn kill_group(pid: u32) {
    // SAFETY: a plain system call. The group id is the child's pid
    // (`process_group(0)`); the child is not reaped yet, so the id cannot
    // have been reused.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Resolves when an interrupt is set; never if the sender is gone.
pub async fn interrupted(interrupt: &mut watch::Receiver<Option<Interrupt>>) -> Interrupt {
    let why = interrupt
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|why| *why);
    match why {
        Some(why) => why,
        None => std::future::pending().await,
    }
}

async fn read_stdout(stdout: impl AsyncRead + Unpin, stdout_use: StdoutUse<'_>) -> Vec<u8> {
    match stdout_use {
        StdoutUse::Collect => {
            let mut collected = Vec::new();
            let _ = stdout
                .take(MAX_COLLECTED_STDOUT as u64)
                .read_to_end(&mut collected)
                .await;
            collected
        }
        StdoutUse::Progress(report) => {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(out_time) = parse_progress_line(&line) {
                    report(out_time);
                }
            }
            Vec::new()
        }
    }
}

/// One line of `-progress` output: `out_time_us=1234567` (or `out_time_ms`,
/// which ffmpeg also writes in microseconds despite its name); `N/A` early on.
pub fn parse_progress_line(line: &str) -> Option<Duration> {
    let (key, value) = line.split_once('=')?;
    match key.trim() {
        "out_time_us" | "out_time_ms" => value
            .trim()
            .parse::<i64>()
            .ok()
            .map(|us| Duration::from_micros(us.max(0) as u64)),
        _ => None,
    }
}

async fn read_tail(stderr: impl AsyncRead + Unpin) -> String {
    let mut reader = BufReader::new(stderr);
    let mut tail: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buffer[..n]);
                if tail.len() > 2 * STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
        }
    }
    if tail.len() > STDERR_TAIL_BYTES {
        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
    }
    String::from_utf8_lossy(&tail).trim().to_string()
}

fn shorten_paths(text: &str, work_dir: &Path) -> String {
    let dir = work_dir.display().to_string();
    text.replace(&format!("file:{dir}/"), "")
        .replace(&format!("{dir}/"), "")
}

/// "ffmpeg exited with status 1: ..." / "ffmpeg was killed by signal 9: ...".
pub fn describe_exit(
    program: &str,
    status: ExitStatus,
    stderr_tail: &str,
    cpu_secs: u64,
) -> String {
    let how = match (status.code(), status.signal()) {
        (_, Some(libc::SIGXCPU)) => format!(
            "{program} was killed by signal {} (it used up its CPU time limit of {cpu_secs} s)",
            libc::SIGXCPU
        ),
        (_, Some(signal)) => format!("{program} was killed by signal {signal}"),
        (Some(code), None) => format!("{program} exited with status {code}"),
        (None, None) => format!("{program} ended abnormally ({status})"),
    };
    if stderr_tail.is_empty() {
        format!("{how} (nothing on stderr)")
    } else {
        format!("{how}: {stderr_tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(
            parse_progress_line("out_time_us=1500000"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_progress_line("out_time_ms=2000000"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(parse_progress_line("out_time_us=N/A"), None);
        assert_eq!(parse_progress_line("out_time=00:00:01.000000"), None);
        assert_eq!(parse_progress_line("progress=continue"), None);
        assert_eq!(
            parse_progress_line("out_time_us=-23000"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn exit_descriptions_name_the_signal_and_carry_the_tail() {
        let killed = ExitStatus::from_raw(libc::SIGKILL);
        assert_eq!(
            describe_exit("ffmpeg", killed, "last words", 10),
            "ffmpeg was killed by signal 9: last words"
        );
        let exited = ExitStatus::from_raw(1 << 8);
        assert_eq!(
            describe_exit("ffprobe", exited, "", 10),
            "ffprobe exited with status 1 (nothing on stderr)"
        );
    }

    #[test]
    fn paths_in_the_work_dir_are_shortened() {
        assert_eq!(
            shorten_paths(
                "file:/w/ab/source: Invalid data; /w/ab/out/x.mp4",
                Path::new("/w/ab")
            ),
            "source: Invalid data; out/x.mp4"
        );
    }

    #[tokio::test]
    async fn the_deadline_kills_the_process_group() {
        let (_tx, mut rx) = watch::channel(None);
        let dir = std::env::temp_dir();
        let started = std::time::Instant::now();
        let result = run(
            Path::new("/bin/sleep"),
            &["30".into()],
            ProcessLimits {
                memory_bytes: 256 << 20,
                cpu_secs: 10,
            },
            Instant::now() + Duration::from_millis(200),
            &mut rx,
            StdoutUse::Collect,
            &dir,
        )
        .await;
        assert!(
            matches!(result, Err(RunError::TimedOut { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn limits_apply_in_the_child() {
        let (_tx, mut rx) = watch::channel(None);
        let finished = run(
            Path::new("/bin/sh"),
            &["-c".into(), "ulimit -v; ulimit -t; nice".into()],
            ProcessLimits {
                memory_bytes: 300 << 20,
                cpu_secs: 7,
            },
            Instant::now() + Duration::from_secs(10),
            &mut rx,
            StdoutUse::Collect,
            &std::env::temp_dir(),
        )
        .await
        .unwrap();
        let text = String::from_utf8(finished.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], (300 << 10).to_string());
        assert_eq!(lines[1], "7");
        assert!(lines[2].parse::<i32>().unwrap() >= NICENESS, "{text}");
    }
}
