//! The writers' scheduling priority, for both stores.

/// Asks the scheduler to run the calling thread (a store's writer) before the request
/// threads when the CPUs are all busy (nice −10); without the privilege for it
/// (`CAP_SYS_NICE`) it runs as before, which is logged.
///
/// Performance: every write of the server waits its turn on one writer, while many request
/// threads share the cores with it. In a write rush the writer lost the CPU to them. With
/// the priority, SQLite's care weeks ran 6–17 % faster in five A/B pairs; PostgreSQL's
/// tablet marks 4–7 % in two (docs/benchmarks-history.md, 2026-12-06 12:49).
pub(crate) fn raise_priority(thread: &str) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's own id.
        let (tid, raised) = unsafe {
            let tid = libc::gettid();
            (tid, libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WRITER_NICE))
        };
        if raised != 0 {
            tracing::info!(tid, thread, error = %std::io::Error::last_os_error(), "a writer thread runs at normal priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = thread;
}

/// A writer thread's nice value (see [`raise_priority`]).
#[cfg(target_os = "linux")]
pub(crate) const WRITER_NICE: libc::c_int = -10;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_writer_thread_runs_at_a_higher_priority_when_it_may() {
        // SAFETY: plain system calls about the calling thread.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        let (before, after, may) = std::thread::spawn(move || {
            let before = nice();
            raise_priority("test");
            (before, nice(), unsafe { libc::geteuid() } == 0)
        })
        .join()
        .expect("the thread ends");
        // Root (as in CI and the benchmark) may; others keep the priority they had.
        assert_eq!(after, if may { WRITER_NICE } else { before });
    }
}
