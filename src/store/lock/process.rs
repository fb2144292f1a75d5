//! Telling a process from a later one with the same pid, on Linux: the kernel's boot id and the
//! process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22). Elsewhere
//! nothing can be told and the lock relies on its heartbeat alone.

use super::Gone;

/// When a process started, as its host's kernel tells it: what tells it from a later process
/// with the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStart {
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot.
    pub boot_id: String,
    /// Field 22 (`starttime`) of `/proc/<pid>/stat`: clock ticks from boot to the process's
    /// start.
    pub start_ticks: u64,
    /// The pid namespace the pid belongs to (`/proc/<pid>/ns/pid`, e.g. `pid:[4026531836]`):
    /// a pid means something only to a reader in the same namespace. `None` where unknown.
    pub pid_ns: Option<String>,
}

impl ProcessStart {
    /// The start of process `pid` on this host; `None` when it cannot be read (no such process,
    /// not Linux).
    pub fn of(pid: u32) -> Option<ProcessStart> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(ProcessStart {
            boot_id: boot_id()?,
            start_ticks: start_ticks(&stat)?,
            pid_ns: pid_namespace(&format!("/proc/{pid}/ns/pid")),
        })
    }
}

/// This host's boot id, where the kernel tells it.
pub(super) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// The pid namespace a `/proc/…/ns/pid` link names (`pid:[inode]`), where it can be read.
pub(super) fn pid_namespace(link: &str) -> Option<String> {
    std::fs::read_link(link)
        .ok()
        .and_then(|target| target.to_str().map(str::to_owned))
        .filter(|ns| !ns.is_empty())
}

/// This process's pid namespace.
pub(super) fn own_pid_namespace() -> Option<String> {
    pid_namespace("/proc/self/ns/pid")
}

/// Field 22 of a `/proc/<pid>/stat` line. The second field (the command name, in parentheses)
/// may hold spaces and parentheses itself, so fields are counted after its last `)`.
pub(super) fn start_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name: field 22 is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` on this host, started at `started` (when known), is gone; `None` while
/// it is there, or where that cannot be told.
pub(super) fn process_gone(pid: u32, started: Option<&ProcessStart>) -> Option<Gone> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    if let (Some(started), Some(boot)) = (started, boot_id())
        && started.boot_id != boot
    {
        return Some(Gone::Rebooted);
    }
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Some(Gone::NoProcess);
    }
    match (started, ProcessStart::of(pid)) {
        (Some(started), Some(now)) if now.start_ticks != started.start_ticks => {
            Some(Gone::PidReused)
        }
        _ => None,
    }
}
