//! The process heap under glibc: few malloc arenas, and freed pages handed
//! back to the system once an epoch.
//!
//! glibc gives each thread that allocates under contention an arena of its
//! own, up to eight per core, and keeps what an arena frees. The client's
//! threads (tokio workers, blocking tasks, the signer's pool) each touch
//! megabytes at epoch boundaries (duty bodies, slashing batches), so at
//! 100,000 keys the resident set measured 357 MB to 427 MB against 156 MB in
//! use (`malloc_stats`, slot 54 of `benches/fullclient.sh`). With two arenas
//! the same run peaked at 289 MB at the same attestation latency
//! (`benches/RESULTS.md`). Lighthouse reaches the same end with jemalloc;
//! this keeps the system allocator and needs no C build.
//!
//! An operator's own `MALLOC_ARENA_MAX` wins: it is read by glibc itself, and
//! [`limit_arenas`] then leaves the setting alone.

/// Arenas the client runs with (unless `MALLOC_ARENA_MAX` says otherwise).
pub const ARENAS: i32 = 2;

/// Caps glibc's arenas at [`ARENAS`]; call first thing in `main`, before any
/// thread starts. Returns whether the cap was set here.
pub fn limit_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    imp::set_arena_max(ARENAS)
}

/// Hands the heap's free pages back to the system (all arenas); returns
/// whether anything was released. Takes the arenas' locks for a few
/// milliseconds: call it away from signing deadlines.
pub fn release_free_pages() -> bool {
    imp::trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub(super) fn set_arena_max(n: i32) -> bool {
        // SAFETY: mallopt takes two integers and only changes allocator
        // parameters; M_ARENA_MAX is a documented parameter.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
    }

    pub(super) fn trim() -> bool {
        // SAFETY: malloc_trim only returns free memory to the system; no
        // pointer the program holds is touched.
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn set_arena_max(_: i32) -> bool {
        false
    }

    pub(super) fn trim() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trimming_gives_back_freed_pages() {
        // A large freed block below the trim threshold's reach stays with the
        // process until trimmed; release reports success on glibc.
        let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 * 1024]).collect();
        drop(blocks);
        let _ = release_free_pages();
        assert!(imp::set_arena_max(ARENAS));
    }
}
