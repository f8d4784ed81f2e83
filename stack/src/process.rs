//! The processes of a stack: pidfiles, recognising a component's own process, starting one
//! detached from this tool, and stopping it with TERM, then KILL.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where a component's pid is recorded and its output goes.
#[derive(Debug, Clone)]
pub struct Handle {
    pub name: String,
    pub pidfile: PathBuf,
    pub log: PathBuf,
    /// What the process's command line must contain, so that a pidfile left behind (and a pid
    /// reused by an unrelated process since) never makes us skip a start or kill a stranger.
    /// Each marker names this profile's run dir, so profiles never match each other's processes.
    pub marker: String,
}

/// The pid in a pidfile, if it holds one.
pub fn read_pid(pidfile: &Path) -> Option<i32> {
    let text = fs::read_to_string(pidfile).ok()?;
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|p| *p > 0)
}

/// Alive and not a zombie: a daemon that exited stays a zombie until its new parent (init, or
/// whatever reaps orphans on this machine) collects it, which can take seconds.
pub fn pid_running(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " "))
}

/// Sends `signal` to `pid` (a process this tool recognised as a component of its stack).
fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; a pid that is gone just fails with ESRCH.
    unsafe {
        libc::kill(pid, signal);
    }
}

impl Handle {
    /// The pid of the component's live process.
    pub fn live_pid(&self) -> Option<i32> {
        let pid = read_pid(&self.pidfile)?;
        (pid_running(pid) && cmdline(pid)?.contains(&self.marker)).then_some(pid)
    }

    /// The recorded process exists (whatever it runs yet: between writing the pidfile and exec
    /// the command line is not the daemon's).
    pub fn process_exists(&self) -> bool {
        read_pid(&self.pidfile).is_some_and(pid_running)
    }

    /// Appends a start marker to the component's log.
    pub fn log_start(&self) -> Result<()> {
        let mut log = self.open_log()?;
        let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let stamp = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        writeln!(log, "\n===== {} start {stamp} =====", self.name)?;
        Ok(())
    }

    pub fn open_log(&self) -> Result<fs::File> {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))
    }

    /// The last `n` lines of the component's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Starts `cmd` as a long-lived process detached from this tool: in its own session (no
    /// terminal, not in our process group), re-parented to init before it execs (Envoy stops
    /// when its parent exits; a direct child of this tool would die as soon as it returns). Its
    /// output is appended to the component's log; its pid is written to the pidfile.
    pub fn spawn_detached(&self, mut cmd: Command) -> Result<i32> {
        let _ = fs::remove_file(&self.pidfile);
        self.log_start()?;
        let log = self.open_log()?;
        let (mut pid_reader, pid_writer) = std::io::pipe()?;
        let writer_fd = std::os::fd::AsRawFd::as_raw_fd(&pid_writer);
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // SAFETY: only async-signal-safe calls (setsid, fork, getpid, getppid, write, nanosleep,
        // _exit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let middle = libc::getpid();
                match libc::fork() {
                    -1 => Err(std::io::Error::last_os_error()),
                    0 => {
                        // Wait until the middle process has exited and we were re-parented.
                        while libc::getppid() == middle {
                            let t = libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 };
                            libc::nanosleep(&t, std::ptr::null_mut());
                        }
                        let pid = libc::getpid().to_ne_bytes();
                        libc::write(writer_fd, pid.as_ptr().cast(), pid.len());
                        Ok(())
                    }
                    _ => libc::_exit(0),
                }
            });
        }
        let mut middle = cmd.spawn().with_context(|| format!("starting {}", self.name))?;
        drop(cmd);
        middle.wait()?;
        drop(pid_writer);
        let mut buf = Vec::new();
        pid_reader.read_to_end(&mut buf)?;
        let pid = buf
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_ne_bytes)
            .with_context(|| format!("{} did not start", self.name))?;
        fs::write(&self.pidfile, format!("{pid}\n"))?;
        Ok(pid)
    }

    /// TERM the recorded process if it is really ours, KILL it after `timeout`, remove the
    /// pidfile. Returns what happened, for the caller to say.
    pub fn stop(&self, timeout: Duration, kill_now: bool) -> Stopped {
        let Some(pid) = self.live_pid() else {
            let stale = self.pidfile.exists();
            let _ = fs::remove_file(&self.pidfile);
            return if stale { Stopped::Stale } else { Stopped::NotRunning };
        };
        signal(pid, if kill_now { libc::SIGKILL } else { libc::SIGTERM });
        let deadline = Instant::now() + timeout;
        let mut forced = false;
        while pid_running(pid) {
            if Instant::now() >= deadline && !forced {
                signal(pid, libc::SIGKILL);
                forced = true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_file(&self.pidfile);
        Stopped::Stopped { pid, forced }
    }
}

/// The outcome of [`Handle::stop`].
pub enum Stopped {
    NotRunning,
    Stale,
    Stopped { pid: i32, forced: bool },
}

/// Runs a short command to completion with its output appended to `log`; fails with the tail.
pub fn run_logged(handle: &Handle, mut cmd: Command, what: &str) -> Result<()> {
    let log = handle.open_log()?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})\n{}", handle.log_tail(30));
    }
    Ok(())
}

/// One `up`/`down`/`stop` at a time per profile: two concurrent `up`s would both find a
/// component stopped and start it twice. The lock is released when the returned file closes
/// (it is close-on-exec, so no daemon inherits it).
pub fn lock(run: &Path, timeout: Duration) -> Result<fs::File> {
    fs::create_dir_all(run)?;
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(run.join(".stack.lock"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(fs::TryLockError::WouldBlock) => bail!("another stack command is still working on {}", run.display()),
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

/// Someone accepts connections on `port` (a closed port fails at once).
pub fn port_in_use(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

pub fn ensure_ports_free(name: &str, ports: &[u16]) -> Result<()> {
    for &p in ports {
        if port_in_use(p) {
            bail!(
                "{name}: port {p} is already in use by another process (set the matching IPFS_S3_*_PORT, or stop that process)"
            );
        }
    }
    Ok(())
}
