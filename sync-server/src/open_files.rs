//! The process's limit of open files. Every open event stream holds a socket, and the usual
//! soft limit of 1,024 would refuse connections long before the server is busy.

/// Raises the soft limit of open files to the hard limit; returns the soft limit then (0
/// when it cannot be read). Processes started afterwards inherit it.
#[cfg(unix)]
pub fn raise_limit() -> u64 {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 0;
        }
        if l.rlim_cur < l.rlim_max {
            let raised = libc::rlimit { rlim_cur: l.rlim_max, rlim_max: l.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l = raised;
            }
        }
    }
    l.rlim_cur
}

#[cfg(not(unix))]
pub fn raise_limit() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let get = || {
            let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: getrlimit writes only the struct passed.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
            l
        };
        let before = get();
        let soft = super::raise_limit();
        let after = get();
        assert_eq!(soft, after.rlim_cur);
        assert!(after.rlim_cur >= before.rlim_cur);
        // The hard limit is never beyond what the kernel allows a process (fs.nr_open).
        assert_eq!(after.rlim_cur, after.rlim_max);
    }
}
